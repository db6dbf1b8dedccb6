from othentic_offchain.cli import main

main()

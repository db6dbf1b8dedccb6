"""The AVS: per task definition (by the name othentic.toml gives it), execute and validate.

uppercase: a task takes a text; the performer stores it as the proof of task and puts its uppercase
on-chain; every attester fetches the text from the proof store and checks the uppercase.
"""

from othentic_offchain.avs import Avs, Execution, Task

avs = Avs("{{name}}")


@avs.execute("uppercase")
async def uppercase(params: dict, ctx) -> Execution:
    text = params.get("text")
    if not isinstance(text, str):
        raise ValueError('an uppercase task needs {"text": "..."}')
    # proof=...: the service stores these bytes in the proof store; their CID is the proof of task.
    return Execution(proof=text.encode(), data=text.upper().encode())


@avs.validate("uppercase")
async def check_uppercase(task: Task, ctx) -> bool:
    try:
        text = (await ctx.proofs.get(task.proof_of_task)).decode()
    except (LookupError, ValueError):  # no such proof, not a CID, not UTF-8: nothing to approve
        return False
    # Raise when you cannot check (the attester then does not vote); return False when it is wrong.
    return task.data == text.upper().encode()

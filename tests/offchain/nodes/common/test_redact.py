"""othentic_offchain.nodes.common.redact: URLs named by scheme and host only, lists URL by URL."""

from othentic_offchain.nodes.common.redact import redact_url, scrub_urls


def test_a_url_is_named_by_scheme_host_and_port_only():
    assert redact_url("https://user:pw@rpc.example:8443/v3/key?x=1") == "https://rpc.example:8443"
    assert redact_url("not a url") == "<url>"


def test_a_comma_separated_list_of_urls_is_redacted_url_by_url():
    urls = "https://a.example/v3/key-one, https://b.example/key-two"
    assert redact_url(urls) == "https://a.example,https://b.example"


def test_scrubbing_with_a_list_removes_every_urls_secret():
    urls = "https://a.example/v3/key-one,https://b.example/key-two"
    text = "a.example said no (https://a.example/v3/key-one); then /key-two timed out"
    scrubbed = scrub_urls(text, urls)
    assert "key-one" not in scrubbed and "key-two" not in scrubbed and "https://a.example" in scrubbed

"""The email fast path never changes an answer: every address ``is_plain_email`` accepts,
email-validator accepts too, and ``is_valid_email`` equals email-validator's verdict (with the
255-character ASCII rule) on generated addresses, near-misses and the store's own emails."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from bc2people.destinations.people.rules import _PLAIN_EMAIL_RE, is_plain_email, is_valid_email
from bc2people.sandbox.generator import generate_customers, nasty_customers


def library_valid(text: str) -> bool:
    """The definition: People's ASCII and length rule, then email-validator."""
    if len(text) > 255 or not text.isascii():
        return False
    try:
        validate_email(text, check_deliverability=False, allow_smtputf8=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def _agrees(text: str) -> None:
    expected = library_valid(text)
    assert is_valid_email(text) == expected, text
    if is_plain_email(text):
        assert expected, text


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ATOM = st.text(alphabet=_ALNUM + "_+-", min_size=1, max_size=10)
_HOST_LABEL = st.one_of(st.sampled_from(_ALNUM), st.builds(lambda a, mid, z: a + mid + z, st.sampled_from(_ALNUM),
                        st.text(alphabet=_ALNUM + "-", max_size=8), st.sampled_from(_ALNUM)))
_TLD = st.text(alphabet=_ALNUM[:52], min_size=2, max_size=8)
PLAIN = st.builds(lambda atoms, labels, tld: ".".join(atoms) + "@" + ".".join([*labels, tld]),
                  st.lists(_ATOM, min_size=1, max_size=3), st.lists(_HOST_LABEL, min_size=1, max_size=3), _TLD)


@settings(max_examples=1000, deadline=None)
@given(PLAIN)
def test_every_plain_address_is_valid_for_email_validator(text: str) -> None:
    assert _PLAIN_EMAIL_RE.fullmatch(text)  # the strategy writes what the fast path reads
    _agrees(text)


LABEL = st.one_of(
    st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True),
    st.sampled_from(["localhost", "local", "LOCAL", "onion", "arpa", "invalid", "test", "home", "xn--p1ai",
                     "xn--bcher-kva", "ab--cd", "a" * 63, "a" * 64, "-a", "a-", "123", "c0m", "co", "x"]),
)
LOCAL = st.one_of(
    st.from_regex(r"[A-Za-z0-9_+.-]{1,12}", fullmatch=True),
    st.sampled_from(["a" * 64, "a" * 65, ".a", "a.", "a..b", "a b", '"quoted"', "a!b", "a#b", "ünï", "user+tag"]),
)


@settings(max_examples=1200, deadline=None)
@given(LOCAL, st.lists(LABEL, min_size=1, max_size=5), st.sampled_from(["@", "@", "@", "@@", " @", "@ "]))
def test_near_miss_addresses_get_email_validators_answer(local: str, labels: list[str], at: str) -> None:
    _agrees(local + at + ".".join(labels))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30))
def test_arbitrary_text_gets_email_validators_answer(text: str) -> None:
    _agrees(text)


def test_long_addresses_get_email_validators_answer() -> None:
    for n in (60, 63, 64, 65):
        for domain_len in (240, 250, 253, 254):
            labels = ["a" * 60] * (domain_len // 61) + ["b" * max(domain_len % 61 - 1, 2)]
            _agrees("u" * n + "@" + ".".join(labels)[: domain_len - 4] + ".com")


def test_the_generated_store_emails_get_email_validators_answer() -> None:
    customers = generate_customers(4000, seed=7) + nasty_customers(400, seed=7, start_id=10_000_000)
    emails = {c.get("email") for c in customers}
    texts = sorted({e.strip() for e in emails if isinstance(e, str)} | {e.strip().lower() for e in emails if isinstance(e, str)})
    assert len(texts) > 4000
    plain = 0
    for text in texts:
        _agrees(text)
        plain += is_plain_email(text)
    assert plain > len(texts) // 2  # the fast path is what most real addresses take

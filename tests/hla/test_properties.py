"""Arbitrary text never raises anything but an everydonor error."""

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from everydonor.errors import EverydonorError
from everydonor.hla.designation import parse_typing
from everydonor.hla.glstring import parse_gl
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution
from tests.hla.tiny import tiny_reference

REDUCER = Reducer(tiny_reference())
hla_alphabet = st.text(alphabet="AB CDRQPw*:/+^|~#-0123456789NLSGPgXUhla.", max_size=40)
any_text = st.text(max_size=40)


@settings(max_examples=400)
@given(st.one_of(hla_alphabet, any_text), st.sampled_from(list(Resolution)))
def test_reduce_raises_only_everydonor_errors(text: str, to: Resolution) -> None:
    with contextlib.suppress(EverydonorError):
        REDUCER.reduce(parse_typing(text), to)


@settings(max_examples=400)
@given(st.one_of(hla_alphabet, any_text))
def test_gl_parse_raises_only_everydonor_errors(text: str) -> None:
    with contextlib.suppress(EverydonorError):
        parse_gl(text)

"""The house rules of the package layout (docs/architecture.md), checked on the source."""

from pathlib import Path

import fungrad

PACKAGE = Path(fungrad.__file__).parent


def test_no_jacobian_basis_type_in_the_interpreters_or_primitives():
    # The symbolic basis of jacfwd/jacrev is the Jacobian code's optimisation
    # (fungrad/basis.py): the batching interpreter and the primitives know nothing of it.
    for folder in ("interpreters", "primitives"):
        for path in (PACKAGE / folder).glob("*.py"):
            assert "IdentityRows" not in path.read_text(), path

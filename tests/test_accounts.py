"""`Accounts`: the logins of one domain, as SMTP AUTH, POP3, IMAP and the webmail ask for them."""
from __future__ import annotations

import pytest

from mailcourse import LabError
from mailcourse.accounts import Accounts
from mailcourse.store import MailStore


@pytest.fixture
def accounts() -> Accounts:
    accounts = Accounts("Example.ORG")
    accounts.add_user("Ann", "ann-password")
    return accounts


def test_a_login_is_the_address_or_its_local_part(accounts):
    assert accounts.authenticate("ann@example.org", "ann-password") == "ann@example.org"
    assert accounts.authenticate(" ANN ", "ann-password") == "ann@example.org"
    assert accounts.account("ann", "ann-password") == "ann"  # as the store names the mailbox
    assert accounts.address("ann") == "ann@example.org"


def test_a_wrong_password_or_another_domain_opens_nothing(accounts):
    assert accounts.authenticate("ann", "Ann-password") is None
    assert accounts.authenticate("ann@example.net", "ann-password") is None
    assert accounts.account("bob", "") is None


def test_rcpt_needs_a_full_address_of_this_domain(accounts):
    assert accounts.has_user("ANN@example.org")
    assert not accounts.has_user("ann")  # RCPT TO names a mailbox, local-part@domain
    assert not accounts.has_user("ann@example.net")
    assert accounts.is_local_domain("EXAMPLE.org")


def test_apop_gets_the_secret_itself(accounts):
    assert accounts.shared_secret("ann@example.org") == ("ann", "ann-password")
    assert accounts.shared_secret("bob") is None


def test_a_new_account_gets_its_mailbox_at_once(tmp_path):
    store = MailStore(tmp_path)
    accounts = Accounts("example.org", store)
    assert accounts.add_user("joe@example.org", "pw") == "joe@example.org"
    assert store.has_account("joe") and store.list("joe") == []
    with pytest.raises(LabError, match="not an address of example.org"):
        accounts.add_user("joe@example.net", "pw")

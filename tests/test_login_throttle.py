"""Log-in throttling (django-axes, settings AXES_*): wrong passwords for one username from one address
lock that pair out, right password or not, with a page that says so. Real admin log-in form."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "pw-staff-correct-1"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password=PASSWORD, is_staff=True)


def log_in(client, password, username="staff", address="10.1.1.1"):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address
    )


def test_five_wrong_passwords_lock_the_account_from_that_address_even_for_the_right_one(settings, staff):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    statuses = [log_in(client, f"guess-{i}").status_code for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # the form again, then the lockout at the fifth

    refused = log_in(client, PASSWORD)
    assert refused.status_code == 429
    page = refused.content.decode()
    assert 'id="login-locked"' in page and "After 5 wrong passwords" in page
    assert client.get("/admin/").status_code == 302  # not logged in: sent to the log-in page

    # The lock is for that username from that address: the same staff member elsewhere gets in.
    elsewhere = Client()
    assert log_in(elsewhere, PASSWORD, address="10.2.2.2").status_code == 302
    assert elsewhere.get("/admin/").status_code == 200


def test_a_right_password_before_the_limit_resets_the_count(staff):
    client = Client()
    assert [log_in(client, "nope").status_code for _ in range(4)] == [200] * 4
    assert log_in(client, PASSWORD).status_code == 302
    client.logout()
    assert [log_in(client, "nope").status_code for _ in range(4)] == [200] * 4  # a fresh budget
    assert log_in(client, PASSWORD).status_code == 302


def test_the_test_clients_login_still_works_without_a_request(staff):
    assert Client().login(username="staff", password=PASSWORD)

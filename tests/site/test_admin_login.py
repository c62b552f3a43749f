import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

PASSWORD = "a-long-test-password-42"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_logs_in_to_the_admin(live_server, page):
    """An editor opens the admin login page, signs in and sees the admin index."""
    get_user_model().objects.create_superuser("desk", "desk@example.com", PASSWORD)
    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_title("Log in | Newsroom")
    page.fill("#id_username", "desk")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_have_text("Newsroom")
    expect(page.locator("#user-tools")).to_contain_text("desk")

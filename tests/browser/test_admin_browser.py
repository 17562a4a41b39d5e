"""The admin in a real browser: login, editing and publishing, validation errors,
test chat, calls, and a viewer refused an edit."""

from __future__ import annotations

import re

import pytest

from callflows.dialogue.session import DialogueSession
from callflows.store import flow_versions
from callflows.verticals import load_vertical
from tests.browser.conftest import login_as

pytestmark = pytest.mark.browser

GREET_FIELD = "#f-responses-greet-0"


def expect(page):  # noqa: ANN001, ANN201
    from playwright.sync_api import expect as _expect

    return _expect(page)


def test_login_and_logout(page, live) -> None:  # noqa: ANN001
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    login_as(page, "editor")
    expect(page.get_by_test_id("whoami")).to_contain_text("editor")
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flash-ok")).to_contain_text("logged out")
    page.goto("/flows/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_a_rejected_login(page, live) -> None:  # noqa: ANN001
    login_as(page, "editor", "not the password")
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong username or password.")
    expect(page.get_by_test_id("whoami")).to_have_count(0)


def test_edit_and_publish_a_prompt(page, live) -> None:  # noqa: ANN001
    login_as(page, "editor")
    page.goto("/flows/dental_clinic")
    field = page.locator(GREET_FIELD)
    new = "Good morning, Bright Smile Dental here. What can I do for you?"
    field.locator("textarea").fill(new)
    field.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-ok")).to_contain_text("Saved as draft version 2")
    expect(page.get_by_test_id("status")).to_contain_text("draft version 2")
    page.get_by_test_id("publish").click()
    expect(page.locator(".flash-ok")).to_contain_text("Version 2 is published")
    expect(page.get_by_test_id("versions")).to_contain_text("published")
    # the next call uses it
    reply = DialogueSession(load_vertical("dental_clinic", live.store), live.store).start()
    assert reply.text == new
    # the diff shows the change
    page.goto("/flows/dental_clinic/diff?a=1&b=2")
    expect(page.get_by_test_id("diff").locator(".d-add")).to_contain_text(new)


def test_a_validation_error_is_shown_next_to_the_field_and_line(page, live) -> None:  # noqa: ANN001
    login_as(page, "editor")
    page.goto("/flows/dental_clinic")
    field = page.locator("#f-forms-book_appointment-steps-3-prompt")
    field.locator("textarea").fill("And what time on {{ dat | speak_date }}?")
    field.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-error")).to_contain_text("cannot be published")
    error = page.locator("#f-forms-book_appointment-steps-3-prompt").get_by_test_id("field-error")
    expect(error).to_contain_text("bad template variable 'dat'")
    expect(page.get_by_test_id("publish")).to_be_disabled()
    # the YAML editor marks the line
    page.get_by_role("link", name="YAML", exact=True).click()
    link = page.get_by_test_id("yaml-errors").locator("a.goto-line").first
    line = link.get_attribute("data-line")
    expect(page.locator(f".gutter #L{line}")).to_have_class("err")
    text = page.get_by_test_id("yaml").input_value()
    assert "{{ dat | speak_date }}" in text.split("\n")[int(line) - 1]
    # fixing it in the YAML editor makes the draft valid again
    page.get_by_test_id("yaml").fill(text.replace("{{ dat | speak_date }}", "{{ date | speak_date }}"))
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".flash-ok")).to_contain_text("It is valid")
    expect(page.get_by_test_id("yaml-errors")).to_have_count(0)
    page.goto("/flows/dental_clinic")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Discard draft").click()
    expect(page.locator(".flash-ok")).to_contain_text("discarded")


def test_the_test_chat(page, live) -> None:  # noqa: ANN001
    login_as(page, "editor")
    page.goto("/testchat/?vertical=dental_clinic")
    page.get_by_test_id("start-chat").click()
    transcript = page.get_by_test_id("transcript")
    expect(transcript).to_contain_text("Bright Smile Dental")
    page.get_by_test_id("say").fill("i'd like to book a cleaning with doctor patel")
    page.get_by_role("button", name="Send").click()
    expect(transcript.locator(".turn.caller")).to_contain_text("book a cleaning")
    expect(page.get_by_test_id("nlu").first).to_contain_text("book_appointment")
    slots = page.get_by_test_id("slots")
    expect(slots).to_contain_text("appointment_type")
    expect(slots).to_contain_text("cleaning")
    expect(slots).to_contain_text("patel")
    expect(transcript.locator(".turn.bot").last).to_contain_text("day")


def test_calls_list_and_a_call_page(page, live) -> None:  # noqa: ANN001
    login_as(page, "viewer")
    page.goto("/calls/")
    table = page.get_by_test_id("calls")
    expect(table).to_contain_text("dental_clinic")
    page.locator(f"a[href='/calls/{live.call_id}']").click()
    expect(page.get_by_test_id("outcome")).to_have_text("booked")
    turns = page.get_by_test_id("turns")
    expect(turns).to_contain_text("book a cleaning with doctor patel")
    expect(turns).to_contain_text("700")  # total latency of a caller turn
    body = page.locator("body").inner_text()
    for secret in ("Jane Smith", "555 123 4567", "+15551234567"):
        assert secret not in body
    expect(page.get_by_test_id("call-slots")).to_contain_text("appointment_type")
    page.goto("/calls/?escalated=yes")
    expect(page.get_by_test_id("calls")).to_contain_text("No calls match")


def test_a_viewer_is_refused_an_edit(page, live) -> None:  # noqa: ANN001
    login_as(page, "viewer")
    page.goto("/flows/dental_clinic")
    expect(page.get_by_test_id("readonly")).to_contain_text("read-only")
    expect(page.locator(GREET_FIELD).get_by_role("button", name="Save")).to_have_count(0)
    expect(page.locator(f"{GREET_FIELD} textarea")).to_have_attribute("readonly", "")
    # posting anyway (with a valid CSRF token) is refused
    status = page.evaluate("""async () => {
        const token = document.querySelector('input[name=csrf_token]').value;
        const body = new URLSearchParams({csrf_token: token, path: '["responses","greet",0]', value: 'Hacked'});
        const r = await fetch('/flows/dental_clinic/field', {method: 'POST', body});
        return r.status;
    }""")
    assert status == 403
    page.goto("/users")
    expect(page.get_by_test_id("error-message")).to_contain_text("admin role")
    with live.store.session() as s:
        assert all("Hacked" not in v.yaml_text for v in flow_versions.list_versions(s, "dental_clinic"))

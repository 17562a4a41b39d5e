"""Importing a Rasa 3.x project (tests/data/rasa_project) into a vertical skeleton."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from callflows.cli.flows import flows, import_rasa
from callflows.flow.loader import load_flow
from callflows.flow.rasa_convert import guess_text_type
from callflows.flow.rasa_import import RasaImportError, import_rasa_project, slugify
from callflows.flow.rasa_project import strip_annotations

PROJECT = Path(__file__).resolve().parent / "data" / "rasa_project"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("verticals")
    return import_rasa_project(PROJECT, out, name="sunrise_auto")


@pytest.fixture(scope="module")
def flow(imported):
    return load_flow(imported)


def test_writes_a_vertical_that_loads(imported, flow):
    assert imported.name == "flow.yaml" and imported.parent.name == "sunrise_auto"
    assert flow.vertical == "sunrise_auto"
    assert flow.actions_module == "actions.py"


def test_slot_types(flow):
    types = {name: slot.type for name, slot in flow.slots.items()}
    assert types == {
        "service_type": "enum",          # categorical
        "service_date": "date",          # text, named *date*
        "contact_phone": "phone_number",  # text, named *phone*
        "customer_name": "person_name",  # text, named *name*
        "estimate_amount": "money",      # float, named *amount*
        "wants_reminder": "enum",        # bool
        "booking_ref": "any",            # not a slot in Rasa, used by utter_booked
    }
    assert flow.slots["contact_phone"].pii


def test_enum_choices_with_nlu_synonyms(flow):
    choices = flow.slots["service_type"].choices
    assert list(choices) == ["oil_change", "brakes", "tires", "inspection"]
    assert {"lube job", "oil and filter"} <= set(choices["oil_change"])
    assert "oil change" not in choices["oil_change"]  # the choice itself is matched anyway
    assert "tyres" in choices["tires"]  # from an entity annotation's value and a synonym block
    assert set(flow.slots["wants_reminder"].choices) == {"yes", "no"}


def test_form_steps_prompts_trigger_and_action(flow):
    form = flow.forms["service_form"]
    assert form.intent == "book_service"
    assert form.action == "action_book_service"
    assert [s.slot for s in form.steps] == ["service_type", "service_date", "contact_phone"]
    service_type, service_date, phone = form.steps
    # utter_ask_<slot>: first variant is the prompt, the others and the buttons reprompt
    assert service_type.prompt == "What do you need done on your car?"
    assert service_type.reprompts == (
        "Which service would you like: an oil change, brakes, tires or an inspection?",
        "You can say Oil change, Brakes or Tires.",
    )
    # utter_ask_<form>_<slot> wins over utter_ask_<slot>; {slot} became Jinja
    assert service_date.prompt == (
        "What day would you like to bring your car in for the {{ service_type | replace('_', ' ') }}?")
    assert service_date.reprompts == ("Which day works for you?",)
    assert phone.prompt == "Please tell me your contact phone."


def test_intents_and_examples(flow):
    assert set(flow.intents) == {"greet", "goodbye", "book_service", "affirm", "deny"}
    examples = flow.intents["book_service"].examples
    assert "can I get an oil change" in examples
    assert "I'd like to schedule a service for Tuesday" in examples
    assert "my brakes are squeaking can you look at them" in examples
    assert not any("[" in e or "{" in e for i in flow.intents.values() for e in i.examples)
    assert flow.intents["greet"].response == "greet"  # from the rule greet -> utter_greet


def test_responses(flow):
    assert set(flow.responses) == {"greet", "goodbye", "booked", "estimate"}
    assert len(flow.responses["greet"]) == 2
    assert flow.responses["booked"] == (
        "You're booked in for {{ service_type | replace('_', ' ') }} on {{ service_date }}. "
        "Your reference is {{ booking_ref }}.",)


def test_faq_goes_to_knowledge_yaml(imported, flow):
    assert (imported.parent / "knowledge.yaml").is_file()
    assert [e.id for e in flow.faq] == ["ask_hours", "ask_location"]
    assert "what are your opening hours" in flow.faq[0].questions
    assert flow.faq[1].answer.startswith("We're at 42 Elm Street")


def test_header_comment_notes_actions(imported):
    text = imported.read_text(encoding="utf-8")
    header = text[: text.index("vertical:")]
    assert "action_book_service, validate_service_form" in header
    assert "copy your actions.py next to this file; it runs unchanged in process" in header
    assert "action_server:" in header
    assert "intent inform" in header and "utter_booked" in header
    assert yaml.safe_load(text)["vertical"] == "sunrise_auto"


def test_imported_vertical_with_the_projects_actions_validates(imported, tmp_path, monkeypatch):
    base = tmp_path / "v"
    shutil.copytree(imported.parent, base / "sunrise_auto")
    shutil.copy(PROJECT / "actions.py", base / "sunrise_auto" / "actions.py")
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(base))
    result = CliRunner().invoke(flows, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ok  sunrise_auto  (5 intents, 1 forms, 7 slots)"


def test_name_defaults_to_the_slugified_folder(tmp_path):
    project = tmp_path / "My Rasa-Bot 2"
    shutil.copytree(PROJECT, project)
    path = import_rasa_project(project, tmp_path / "out")
    assert path.parent.name == "my_rasa_bot_2"
    assert slugify("3cx Bot") == "v_3cx_bot"


def test_existing_vertical_is_not_overwritten(imported):
    with pytest.raises(RasaImportError, match="already exists"):
        import_rasa_project(PROJECT, imported.parent.parent, name="sunrise_auto")
    assert import_rasa_project(PROJECT, imported.parent.parent, name="sunrise_auto", overwrite=True) == imported


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_domain_folder_old_required_slots_and_generated_prompts(tmp_path):
    project = write(tmp_path / "bank", {
        "domain/intents.yml": """\
            version: "3.1"
            intents: [check_balance, thanks]
            """,
        "domain/slots.yml": """\
            slots:
              account_number: {type: text, mappings: [{type: from_text}]}
              when: {type: text, mappings: [{type: from_entity, entity: date}]}
              party_size: {type: float, mappings: [{type: from_text}]}
              opted_in: {type: bool, mappings: [{type: from_text}]}
              history: {type: list, mappings: [{type: custom}]}
            forms:
              balance_form:
                required_slots:
                  account_number:
                    - type: from_text
                  when:
                    - type: from_entity
                      entity: date
            responses:
              utter_balance:
                - text: "Your balance is {balance} as of {when}."
              utter_thanks:
                - text: "You're welcome!"
            """,
        "data/banking.yml": """\
            nlu:
            - intent: check_balance
              examples: |
                - what's my balance
                - how much money do I have on [monday](date)
            - intent: thanks
              examples: |
                - thanks
                - thank you
            """,
        "data/stories.yml": """\
            stories:
            - story: balance
              steps:
              - intent: check_balance
              - action: balance_form
              - active_loop: balance_form
              - active_loop: null
              - action: action_check_balance
            - story: thanks
              steps:
              - or:
                - intent: thanks
                - intent: check_balance
              - action: utter_thanks
            """,
    })
    path = import_rasa_project(project, tmp_path / "out")
    assert not (path.parent / "knowledge.yaml").exists()
    flow = load_flow(path)
    slots = flow.slots
    assert (slots["account_number"].type, slots["account_number"].pii) == ("digits", True)
    assert slots["when"].type == "date"  # guessed from the entity it is filled from
    assert slots["party_size"].type == "text"
    assert set(slots["opted_in"].choices) == {"yes", "no"}
    assert slots["history"].type == "any"
    assert slots["balance"].type == "any"  # only used in a response
    form = flow.forms["balance_form"]
    assert [s.prompt for s in form.steps] == ["Please tell me your account number.", "Please tell me your when."]
    assert (form.intent, form.action) == ("check_balance", "action_check_balance")
    assert flow.intents["thanks"].response == "thanks"
    assert flow.intents["check_balance"].examples == ("what's my balance", "how much money do I have on monday")
    assert "# Custom actions" not in path.read_text()


def test_missing_domain_is_a_clear_error(tmp_path):
    (tmp_path / "empty" / "data").mkdir(parents=True)
    with pytest.raises(RasaImportError, match=r"no Rasa domain in .*empty: expected domain.yml or a domain/ folder"):
        import_rasa_project(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(RasaImportError, match="not a folder"):
        import_rasa_project(tmp_path / "nowhere", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_invalid_domain_is_a_clear_error(tmp_path):
    write(tmp_path / "bad", {"domain.yml": "intents:\n  - greet\n slots: {}\n"})
    with pytest.raises(RasaImportError, match=r"domain.yml:3: invalid YAML"):
        import_rasa_project(tmp_path / "bad", tmp_path / "out")
    write(tmp_path / "list", {"domain.yml": "- greet\n"})
    with pytest.raises(RasaImportError, match="invalid domain: must be a mapping"):
        import_rasa_project(tmp_path / "list", tmp_path / "out")
    write(tmp_path / "wrong", {"domain.yml": "intents: greet\n"})
    with pytest.raises(RasaImportError, match="'intents' must be a list"):
        import_rasa_project(tmp_path / "wrong", tmp_path / "out")


def test_strip_annotations():
    synonyms: dict[str, set[str]] = {}
    assert strip_annotations("see you [Tuesday](date) at [3pm](time)") == "see you Tuesday at 3pm"
    assert strip_annotations('fly to [NYC]{"entity": "city", "value": "new york"}', synonyms) == "fly to NYC"
    assert strip_annotations("to [the big apple](city:new york)", synonyms) == "to the big apple"
    assert synonyms == {"new york": {"NYC", "the big apple"}}


@pytest.mark.parametrize("name, expected", [
    ("appointment_date", "date"), ("day", "date"), ("preferred_time", "time"), ("phone", "phone_number"),
    ("first_name", "person_name"), ("email", "text"), ("zip_code", "digits"), ("ssn_last4", "digits"),
    ("pin", "digits"), ("amount", "money"), ("price", "money"), ("company_name", "text"), ("notes", "text"),
])
def test_guess_text_type(name, expected):
    assert guess_text_type(name)["type"] == expected


def test_cli_import_rasa(tmp_path):
    out = tmp_path / "verticals"
    result = CliRunner().invoke(import_rasa, [str(PROJECT), "--out", str(out), "--name", "Sunrise Auto"])
    assert result.exit_code == 0, result.output
    assert f"-> {out / 'sunrise_auto' / 'flow.yaml'}" in result.output
    assert "ok  sunrise_auto  (5 intents, 1 forms, 7 slots)" in result.output
    assert "Next steps:" in result.output
    assert f"cp {PROJECT / 'actions.py'} {out / 'sunrise_auto' / 'actions.py'}" in result.output
    assert f"CALLFLOWS_VERTICALS_DIR={out} callflows chat sunrise_auto" in result.output


def test_cli_import_rasa_missing_domain(tmp_path):
    (tmp_path / "proj").mkdir()
    result = CliRunner().invoke(import_rasa, [str(tmp_path / "proj"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Error: no Rasa domain in" in result.output
    assert "Traceback" not in result.output

"""Scripted conversations with the hotel, asserting what ends up in the database.

The call's clock is fixed: Sunday 22 November 2026, 10:00 in New York, so "friday" is the
27th. Runs on SQLite and PostgreSQL (the `store` fixture).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callflows_verticals.hotel import booking as hb
from callflows.dialogue import DialogueSession
from callflows.nlu.values import ParseContext, extract
from callflows.store import repo
from callflows.store.models import Call, SlotValue, Turn
from callflows.verticals import load_vertical
from tests.dialogue_helpers import correct_at_summary

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=TZ)
FRI, SAT, MON, TUE = date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 30), date(2026, 12, 1)


@pytest.fixture(scope="module")
def hotel():
    return load_vertical("hotel")


def actions():
    return __import__("callflows_vertical_hotel_actions")  # loaded with the vertical


def talk(session: DialogueSession, *lines: str) -> list[str]:
    """Play caller lines ('#dtmf 0116#' for keys); returns the bot's replies (the greeting first)."""
    replies = [session.start().text] if session.recorder.seq == 0 else []
    for line in lines:
        keys = line.startswith("#dtmf ")
        replies.append(session.handle_text(line[6:] if keys else line, source="dtmf" if keys else "text").text)
    return replies


def stays(store, include_cancelled: bool = True) -> list[hb.Stay]:
    with store.session() as s:
        return hb.list_stays(s, "hotel", include_cancelled=include_cancelled)


def seed(store, hotel, *, name="Maria Lopez", room="double", arrival=FRI, departure=MON, guests=2) -> hb.Stay:
    inv = actions().inventory()
    with store.session() as s:
        cid = repo.add_customer(s, "hotel", name, phone="+15559876543").id
    return hb.book_stay(store, inv, cid, room, arrival, departure, guests)


def fill_room(store, hotel, room: str, arrival=FRI, departure=MON) -> None:
    for _ in range(actions().inventory().room(room).rooms):
        seed(store, hotel, name="Some Guest", room=room, arrival=arrival, departure=departure)


def test_book_a_room_step_by_step(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    replies = talk(
        session,
        "hi i'd like to book a room",
        "friday",
        "monday",
        "two adults and a child",
        "a family room please",
        "five five five one two three four five six seven",
        "my name is jane smith",
        "yes",
        "yes please",
        "no that's all thanks",
    )
    assert "arrive" in replies[1]
    assert "checking out" in replies[2]
    assert "How many guests" in replies[3]
    assert "type of room" in replies[4]
    assert "phone number" in replies[5] and "name" in replies[6]
    assert "I have your name as Jane Smith" in replies[7]
    assert "family room for 3 guests" in replies[8] and "Friday, November 27" in replies[8]
    assert "3 nights" in replies[8] and "$657" in replies[8] and "Jane Smith" in replies[8]
    assert "5 5 5, 1 2 3, 4 5 6 7" in replies[8]  # every value the caller gave is read back
    assert "booked" in replies[9] and "reservation number" in replies[9]
    [stay] = stays(store)
    assert (stay.room_type, stay.arrival, stay.departure, stay.guests, stay.status) == ("family", FRI, MON, 3, "booked")
    assert " ".join(stay.reference) in replies[9]
    with store.session() as s:
        call = s.get(Call, session.call_id)
        assert call.outcome == "reservation_booked"
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == session.call_id))]
        stored = {v.name: v.value_masked for v in s.scalars(select(SlotValue).where(SlotValue.call_id == session.call_id))}
    assert not any("1234567" in t or "one two three four five six seven" in t for t in texts)
    assert "1234567" not in stored["phone"]
    assert stored["arrival_date"] == "2026-11-27"


def test_everything_in_one_sentence_with_for_three_nights(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    replies = talk(session, "i want to book a suite for two adults from next friday for three nights")
    arrival = date.fromisoformat(extract("date", "next friday", ParseContext(now=NOW))[0].value)
    slots = session.state.slots
    assert (slots["room_type"], slots["guests"]) == ("suite", 2)
    assert slots["arrival_date"] == arrival.isoformat()
    assert slots["departure_date"] == date.fromordinal(arrival.toordinal() + 3).isoformat()
    assert "phone number" in replies[-1]
    replies = talk(session, "555 222 3333", "tom baker", "yes")
    assert "suite for 2 guests" in replies[-1] and "3 nights" in replies[-1] and "$987" in replies[-1]
    talk(session, "yes")
    [stay] = stays(store)
    assert (stay.room_type, stay.arrival, stay.nights) == ("suite", arrival, 3)


def _to_the_summary(session: DialogueSession, phone: str = "five five five two two two three three three three") -> list[str]:
    return talk(session, "i'd like to book a room", "friday", "for two nights", "two adults and a child",
                "a family room please", phone, "my name is jane smith", "yes")


def customer_of(store, stay: hb.Stay):
    from callflows.store.models import Customer

    with store.session() as s:
        c = s.get(Customer, stay.customer_id)
        return c.full_name, c.phone


@pytest.mark.parametrize("correction,slot,value", [
    ("no, three nights", "departure_date", "2026-11-30"),
    ("no, arriving saturday", "arrival_date", "2026-11-28"),
    ("no, check out on tuesday", "departure_date", "2026-12-01"),
    ("no, four guests", "guests", 4),
    ("no, we are four", "guests", 4),
    ("no we're four", "guests", 4),
    ("actually there will be four of us", "guests", 4),
    ("no, we arrive on saturday", "arrival_date", "2026-11-28"),
    ("no, make it three nights", "departure_date", "2026-11-30"),
    ("no, the suite please", "room_type", "suite"),
    ("no, a suite", "room_type", "suite"),
    ("no, the number is five five five four four four five five five five", "phone", "+15554445555"),
    ("no, my name is priya raghunathan", "full_name", "Priya Raghunathan"),
])
def test_a_correction_at_the_summary_changes_exactly_that_value(store, hotel, correction, slot, value):
    session = DialogueSession(hotel, store, now=NOW)
    replies = _to_the_summary(session)
    assert session.state.pending == "confirm"
    summary = replies[-1]
    for said in ("family room for 3 guests", "Friday, November 27", "Sunday, November 29", "2 nights",
                 "Jane Smith", "5 5 5, 2 2 2, 3 3 3 3"):
        assert said in summary, (said, summary)  # every value that goes into the reservation
    after = correct_at_summary(session, correction, slot, value, {"nights_text", "total_price", "stay_nights"})
    talk(session, "yes")
    [stay] = stays(store)
    booked = {"arrival_date": stay.arrival.isoformat(), "departure_date": stay.departure.isoformat(),
              "guests": stay.guests, "room_type": stay.room_type}
    booked["full_name"], booked["phone"] = customer_of(store, stay)
    assert booked == {k: after[k] for k in booked}


def test_a_bare_number_at_the_summary_asks_what_to_change(store, hotel):
    """"No, four" could be the guests or the nights: nothing is changed on a guess, the
    caller is asked what to change, and the answer then goes to that value."""
    session = DialogueSession(hotel, store, now=NOW)
    _to_the_summary(session)
    before = dict(session.state.slots)
    replies = talk(session, "no, four")
    assert "What would you like to change" in replies[-1] and session.state.slots == before
    replies = talk(session, "the number of guests")
    assert "How many guests" in replies[-1]
    replies = talk(session, "four")
    assert "for 4 guests" in replies[-1] and session.state.pending == "confirm"


@pytest.mark.parametrize("script,name", [
    ([("margarita", "last name"), ("conquale", "I have your name as Margarita Conquale")], "Margarita Conquale"),
    ([("my name is dmitri sula", "Dmitri Sula"), ("no", "spell your last name"),
      ("d m i t r i e v", "Dmitri Dmitriev, spelled D, M, I, T, R, I, E, V")], "Dmitri Dmitriev"),
])
def test_a_lone_first_name_or_a_denied_name_is_completed_and_read_back(store, hotel, script, name):
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "book a suite for two adults from friday for three nights", "555 222 3333")
    for said, heard in script:
        reply = talk(session, said)[-1]
        assert heard in reply, (said, reply)
    talk(session, "yes", "yes")
    [stay] = stays(store)
    assert customer_of(store, stay)[0] == name


def test_a_name_that_never_converges_is_booked_and_stored_unverified(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "book a suite for two adults from friday for three nights", "555 222 3333",
         "my name is dmitri sula", "no", "s u l l a", "no", "d m i t r y")
    replies = talk(session, "no")
    assert "Shall I book it" in replies[-1] and "check the spelling" in replies[-1]
    talk(session, "yes")
    [stay] = stays(store)
    assert customer_of(store, stay)[0] == "Dmitry Sulla" and stay.name_unverified is True


def test_the_name_on_file_for_the_number_is_confirmed(store, hotel):
    seed(store, hotel, name="Marguerite Conquale", arrival=date(2026, 12, 10), departure=date(2026, 12, 12))
    session = DialogueSession(hotel, store, now=NOW)
    replies = talk(session, "book a suite for two adults from friday for three nights",
                   "five five five nine eight seven six five four three")
    assert "on file for Marguerite Conquale" in replies[-1]
    talk(session, "yes", "yes")
    mine = [s for s in stays(store) if s.arrival == FRI]
    assert [customer_of(store, s)[0] for s in mine] == ["Marguerite Conquale"]


def test_someone_else_on_the_number_gets_asked_their_name(store, hotel):
    seed(store, hotel, name="Marguerite Conquale", arrival=date(2026, 12, 10), departure=date(2026, 12, 12))
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "book a suite for two adults from friday for three nights",
         "five five five nine eight seven six five four three")
    replies = talk(session, "no")
    assert "first and last name" in replies[-1] and session.state.slots["full_name"] is None
    talk(session, "my name is paul conquale", "yes", "yes")
    mine = [s for s in stays(store) if s.arrival == FRI]
    assert [customer_of(store, s)[0] for s in mine] == ["Paul Conquale"]


def test_for_three_nights_answers_the_departure(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "i need a room", "saturday")
    replies = talk(session, "for three nights please")
    assert session.state.slots["departure_date"] == "2026-12-01"
    assert session.state.slots["guests"] is None  # "three nights" is not three guests
    assert "How many guests" in replies[-1]


def test_departure_on_or_before_arrival_is_rejected(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "i'd like to make a reservation", "december the fifth")
    replies = talk(session, "december third")
    assert "has to be after your arrival on Saturday, December 5" in replies[-1]
    assert "checking out" in replies[-1]
    assert session.state.slots["departure_date"] is None and session.state.requested == "departure_date"
    replies = talk(session, "december fifth")
    assert "has to be after" in replies[-1]
    talk(session, "december seventh")
    assert session.state.slots["departure_date"] == "2026-12-07"


def test_a_weekday_departure_is_the_one_after_the_arrival(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "i'd like to make a reservation", "saturday", "tuesday")
    assert session.state.slots["departure_date"] == "2026-12-01"


def test_from_one_date_to_another(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "book a room please")
    talk(session, "from friday to monday")
    assert (session.state.slots["arrival_date"], session.state.slots["departure_date"]) == ("2026-11-27", "2026-11-30")


def test_sold_out_room_type_offers_the_others(store, hotel):
    fill_room(store, hotel, "suite")
    session = DialogueSession(hotel, store, now=NOW)
    replies = talk(session, "book a room", "friday", "for three nights", "two of us", "a suite")
    assert "suite is fully booked" in replies[-1] and "standard room at $129 a night" in replies[-1]
    assert session.state.slots["room_type"] is None and session.state.requested == "room_type"
    assert "suite" not in session.state.slots["offered_rooms"]
    talk(session, "a double then", "five five five four four four one two one two", "ann lee", "yes", "yes")
    mine = [s for s in stays(store) if s.room_type == "double"]
    assert len(mine) == 1 and mine[0].arrival == FRI


def test_last_room_taken_while_confirming_reopens_on_the_room_type(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "book a suite for two adults from friday for three nights", "555 222 3333", "tom baker", "yes")
    assert session.state.pending == "confirm"
    fill_room(store, hotel, "suite")  # other calls take every suite meanwhile
    replies = talk(session, "yes")
    assert "just been taken" in replies[-1] and "type of room" in replies[-1]
    talk(session, "family room", "yes")
    assert [s.room_type for s in stays(store) if s.guests == 2 and s.room_type != "suite"] == ["family"]


def test_a_reservation_number_holding_the_party_size_keeps_the_guests(store, hotel):
    """"5 3 j 2 2 f" for a stay of 2 guests: the digits are not a party size, and the size the
    reservation gave is kept (it was lost when the two happened to be equal)."""
    from callflows_verticals.hotel.models import Reservation

    stay = seed(store, hotel)
    with store.session() as s:
        s.execute(Reservation.__table__.update().where(Reservation.reference == stay.reference).values(reference="53J22F"))
    session = DialogueSession(hotel, store, now=NOW)
    talk(session, "i need to change my reservation", "it's 5 3 j 2 2 f", "yes", "the dates", "saturday")
    replies = talk(session, "for three nights")
    assert "for 2 guests, from Saturday, November 28 to Tuesday, December 1" in replies[-1]
    assert session.state.slots["guests"] == 2


def test_change_dates_by_reference(store, hotel):
    stay = seed(store, hotel)
    session = DialogueSession(hotel, store, now=NOW)
    spoken = " ".join(stay.reference.lower())  # "k 7 m 2 q p", as a recogniser writes spelled letters
    replies = talk(session, "i need to change my reservation", f"it's {spoken}")
    assert "double room for 2 guests, from Friday, November 27 to Monday, November 30" in replies[-1]
    assert "for Maria" in replies[-1] and "Is that yours" in replies[-1]
    replies = talk(session, "yes")
    assert "What would you like to change" in replies[-1]
    replies = talk(session, "the dates")
    assert "new arrival date" in replies[-1]
    replies = talk(session, "saturday", "for three nights")
    assert "from Saturday, November 28 to Tuesday, December 1" in replies[-1] and "$447" in replies[-1]
    replies = talk(session, "yes")
    assert "Done" in replies[-1]
    session.end()  # the caller hangs up
    [changed] = stays(store)
    assert (changed.reference, changed.arrival, changed.departure, changed.room_type) == (stay.reference, SAT, TUE, "double")
    with store.session() as s:
        assert s.get(Call, session.call_id).outcome == "reservation_changed"


def test_change_room_type_by_the_phone_number_on_file(store, hotel):
    stay = seed(store, hotel)
    session = DialogueSession(hotel, store, now=NOW)
    replies = talk(session, "can i upgrade my room to a suite", "i don't have the number, it's five five five nine eight seven six five four three")
    assert "for Maria" in replies[-1] and "Is that yours" in replies[-1], replies
    replies = talk(session, "yes")
    assert session.state.slots["change_item"] == "room"
    assert "suite for 2 guests" in replies[-1] and "Friday, November 27" in replies[-1], replies
    talk(session, "yes")
    [changed] = stays(store)
    assert (changed.reference, changed.room_type, changed.arrival) == (stay.reference, "suite", FRI)


def test_cancel_by_the_phone_number_on_the_keypad(store, hotel):
    seed(store, hotel)
    session = DialogueSession(hotel, store, now=NOW)
    replies = talk(session, "i need to cancel my reservation")
    assert "keypad" in replies[-1] and "name" not in replies[-1]
    replies = [session.handle_text("5559876543#", source="dtmf").text]
    assert "for Maria" in replies[-1] and "double room" in replies[-1]
    replies = talk(session, "yes")
    assert "Do you want me to cancel" in replies[-1]
    replies = talk(session, "yes please")
    assert "cancelled" in replies[-1]
    session.end()
    [stay] = stays(store)
    assert stay.status == "cancelled"
    with store.session() as s:
        assert s.get(Call, session.call_id).outcome == "reservation_cancelled"
        assert hb.rooms_free(s, actions().inventory(), "double", FRI, MON) == 8


def test_unknown_reservation_is_not_found_and_not_yours_asks_again(store, hotel):
    seed(store, hotel)
    session = DialogueSession(hotel, store, now=NOW)
    replies = talk(session, "cancel my booking", "five five five one one one two two two two")
    assert "couldn't find a reservation for that phone number" in replies[-1]
    replies = talk(session, "k k k k k k")
    assert "couldn't find a reservation with the number K K K K K K" in replies[-1]
    assert "keypad" in replies[-1] and "connect you" in replies[-1]  # asked twice already: keypad or a person
    replies = talk(session, "no", "five five five nine eight seven six five four three", "no it isn't")
    assert "Let's try again" in replies[-1] and session.state.slots["reservation_ref"] is None


def test_faq_outside_and_inside_a_form(store, hotel):
    session = DialogueSession(hotel, store, now=NOW)
    replies = talk(session, "do you have parking")
    assert "garage" in replies[-1] and "anything else" in replies[-1]
    replies = talk(session, "yes i'd like to book a room", "friday", "what time is check in")
    assert "3 PM" in replies[-1] and "checking out" in replies[-1]
    assert session.state.active_form == "book_room" and session.state.requested == "departure_date"


@pytest.mark.parametrize("line,intent", [
    ("uh i wanna book a room for the weekend", "book_room"),
    ("i need to cancel my hotel reservation", "cancel_reservation"),
    ("can i change the dates of my booking", "change_reservation"),
    ("is the wifi free", "faq"),
    ("can i bring my dog", "faq"),
    ("the air conditioning in my room is broken", "report_problem"),
    ("let me speak to a human", "human"),
])
def test_intents_on_asr_style_text(hotel, line, intent):
    assert hotel.nlu.parse(line, ParseContext(now=NOW)).intent == intent


@pytest.mark.parametrize("text,ref", [
    ("k seven m two q p", "K7M2QP"),
    ("it's K7M2QP", "K7M2QP"),
    ("my reference is kilo seven mike two quebec papa", "K7M2QP"),
    ("k 7 m as in mike 2 q p", "K7M2QP"),
    ("double k three are tee why", "KK3RTY"),
    ("maria lopez", None),
    ("k seven m", None),
    ("one two three four five six", None),
])
def test_spoken_reservation_numbers(text, ref, hotel):
    assert actions().parse_reference(text) == ref


def test_chat_script_final_line_carries_the_reservation_number(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from callflows.cli.chat import chat

    monkeypatch.setenv("CALLFLOWS_DATABASE_URL", f"sqlite:///{tmp_path / 'chat.db'}")
    script = tmp_path / "book.txt"
    script.write_text("\n".join(["hi i'd like to book a room", "friday", "monday", "two adults and a child",
                                 "a family room please", "five five five one two three four five six seven",
                                 "my name is jane smith", "yes", "yes please"]) + "\n")
    result = CliRunner().invoke(chat, ["hotel", "--script", str(script), "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    final = lines[-1]
    assert final["final"] and final["outcome"] == "reservation_booked", final
    ref = final["slots"].get("reservation_ref")
    assert ref and ref in lines[-2]["bot"].replace(" ", ""), (final, lines[-2])  # spelled out: "X F V W F U"


def test_a_stay_too_long_says_the_arrival_and_takes_both_dates_again(store, hotel):
    """A check-out typed on the keypad 35 nights after the arrival heard: the arrival (never read
    back until the summary) is the doubtful date, so it is said, and both are asked again."""
    session = DialogueSession(hotel, store, now=NOW, channel="phone")
    replies = talk(session, "i'd like to book a room", "the 12th", "#dtmf 0116#")  # December 12 heard
    assert replies[-1].startswith("From your arrival on Saturday, December 12, that's more than 30 nights."), replies
    assert "arrive" in replies[-1] and session.state.slots["arrival_date"] is None, replies
    talk(session, "the 12th on january", "#dtmf 0116#")
    assert (session.state.slots["arrival_date"], session.state.slots["departure_date"]) == ("2027-01-12", "2027-01-16")


def test_two_nights_heard_as_tonight_is_two_nights_after_a_later_arrival(store, hotel):
    """"arriving sunday january tenth for two nights" came back "... for the January 10th for
    tonight."; a check-out "tonight" can only be before such an arrival, so the bot asked for the
    check-out over and over and put the caller through. After an arrival that is not today, "for
    tonight" is two nights; a room for tonight with no other day is still tonight."""
    session = DialogueSession(hotel, store, now=NOW, channel="phone")
    talk(session, "Hi. I'd like to book a twin room for two people, arriving for the January 10th for tonight.")
    assert (session.state.slots["arrival_date"], session.state.slots["departure_date"]) == ("2027-01-10", "2027-01-12")
    session = DialogueSession(hotel, store, now=NOW, channel="phone")
    talk(session, "i'd like to book a twin room for two people", "january tenth")
    talk(session, "For tonight.")
    assert session.state.slots["departure_date"] == "2027-01-12"
    session = DialogueSession(hotel, store, now=NOW, channel="phone")
    talk(session, "i need a twin room for tonight for two people")
    assert session.state.slots["arrival_date"] == "2026-11-22" and session.state.slots["departure_date"] is None


def test_for_two_nights_heard_four_two_nights_is_two_nights(store, hotel):
    """A flite caller's "for two nights" came back "Four two nights." ten times; each was read as
    the booking request said again ("Sure, let's carry on with that."), with the same question,
    until the caller hung up."""
    session = DialogueSession(hotel, store, now=NOW, channel="phone")
    talk(session, "Hi, I'd like to book a room.", "The 28th of December.")
    replies = talk(session, "Four two nights.")
    assert session.state.slots["departure_date"] == "2026-12-30"
    assert "How many guests" in replies[-1]


def test_the_request_said_again_and_again_is_a_miss_not_a_loop(store, hotel):
    session = DialogueSession(hotel, store, now=NOW, channel="phone")
    talk(session, "Hi, I'd like to book a room.", "The 28th of December.")
    replies = talk(session, *["i'd like to book a room"] * 3)
    assert replies[0].startswith("Sure, let's carry on with that.")  # said again once: carry on
    assert "number of nights" in replies[1] and not replies[1].startswith("Sure, let's carry on")
    assert "connect you with a person" in replies[2]


def test_a_weekday_with_the_day_heard_without_its_teen_is_the_day_that_fits(store, hotel):
    """"arriving Friday, December 18th" came back "Friday, December 8th" (a Tuesday); the bot
    booked the 8th, read back as "Tuesday, December 8"."""
    session = DialogueSession(hotel, store, now=datetime(2026, 12, 4, 10, 0, tzinfo=TZ), channel="phone")
    talk(session, "Hi. I'd like to book a double room for two people, riding Friday, December 8th for one night.")
    assert (session.state.slots["arrival_date"], session.state.slots["departure_date"]) == ("2026-12-18", "2026-12-19")


def test_a_named_arrival_with_its_nights_corrects_the_stay_at_the_summary(store, hotel):
    """"No, arriving December 18th for one night." to a summary on the 8th asked "What would you
    like to change?": the "one" of "one night" was taken for the guests (refused), and the arrival
    the caller named was dropped with it."""
    session = DialogueSession(hotel, store, now=NOW)
    _to_the_summary(session)
    talk(session, "No, arriving December 18th for one night.")
    assert (session.state.slots["arrival_date"], session.state.slots["departure_date"]) == ("2026-12-18", "2026-12-19")
    assert session.state.slots["guests"] == 3 and session.state.pending == "confirm"

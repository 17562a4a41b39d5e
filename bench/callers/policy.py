"""The caller's policy: what a persona says next, given what the bot just said.

No script: ``classify`` reads the bot's words (its reply text in text mode, Whisper's
transcript of its audio on the phone) and names what is being asked; ``next_move`` answers
from the persona's facts. A read-back is compared with the facts (dates and times parsed from
the bot's words, the name fuzzily) and confirmed or corrected ("no, ten in the morning").
Numbers go on the keypad when the bot offers it and the persona likes keys; an FSDD speaker
says them for some personas. A person offered when not wanted gets "no thanks, let's keep going".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from difflib import SequenceMatcher

from rapidfuzz.distance import Levenshtein

from callflows.nlu.values import ParseContext, extract
from callflows.nlu.values.numbers import UNITS
from callflows.speech.textnorm import number_words, ordinal_words, year_words

from .personas import Persona

DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
MONTHS = "january february march april may june july august september october november december".split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
PROVIDER_WORDS = {"patel": "doctor patel", "nguyen": "doctor nguyen", "garcia": "doctor garcia", "any": "anyone is fine"}
MAX_TURNS = 20
# tasks done through a form: until the bot says the task is done, "anything else?" is not the end
FORM_TASKS = frozenset({"book", "reschedule", "cancel", "balance", "lost_card", "hotel_book",
                        "hotel_change", "faq_book"})
DONE_WORDS = re.compile(r"all set|\bdone\b|is now on|you're booked|is booked|been booked|cancelled|canceled|moved|rescheduled|frozen|"
                        r"balance|dollars|transactions|confirmed|changed|can't verify|could not verify|couldn't verify")

# (ask, keywords): the first ask whose keyword is in the bot's last question wins
ASKS: list[tuple[str, tuple[str, ...]]] = [
    ("anything_else", ("anything else",)),
    ("offer_person", ("connect you with a person", "connect you with someone", "like me to connect",
                      "speak to a person", "talk to a person?", "speak with someone", "transfer you")),
    ("confirm", ("shall i", "is that right", "is that correct", "is everything right", "is everything else right", "do you want me to cancel", "should i book",
                 "did you say", "is this correct", "is that yours", "is this yours")),
    ("key_name", ("key for each letter", "key per letter", "one key for each", "each letter, then",
                  "type your last name", "type your first name", "your last name the same way")),
    ("spell", ("spell your", "spell it for me", "spell that", "please spell", "how do you spell", "could you spell",
               "can you spell", "spell the")),
    ("last_name", ("last name", "surname", "family name")),
    ("first_name", ("first name",)),
    ("name", ("name",)),
    ("dob", ("date of birth", "birthday", "born", "birth")),  # "day to birth": its own hearing of the bot
    ("factor", ("social security", "last four", "zip code", "last 4")),
    ("reservation_number", ("reservation number", "confirmation number")),
    ("old_arrival", ("arrival date on the reservation", "arrival date on your reservation")),
    ("change_what", ("would you like to change", "should be different", "change the day or the time")),
    # before the arrival: "The check-out date has to be after your arrival on ... And when will you
    # be checking out?" asks for the check-out
    ("departure", ("checking out", "check out", "check-out", "how many nights", "will you leave", "number of nights")),
    ("arrival", ("arrive", "arrival", "check in", "check-in")),
    ("guests", ("how many guests", "how many people", "guests will")),
    ("room", ("type of room", "room would you like", "kind of room")),
    ("phone", ("phone number", "number to reach", "phone")),
    ("visit", ("kind of visit", "type of visit", "cleaning, a filling", "cleaning, filling")),
    ("provider", ("preferred dentist", "which dentist", "dr. patel", "doctor patel", "dentist")),
    ("time", ("what time", "time of day", "which time", "other time", "time would")),
    ("date", ("what day", "which day", "what date", "which date", "move it to", "day would", "another day")),
    ("account", ("which account", "checking, savings", "checking or savings", "for which account")),
    ("card_problem", ("lost, or stolen", "lost or stolen", "cash machine keep", "without your permission")),
    ("still_there", ("still there",)),
    ("open", ("how can i help", "what can i help", "help you today", "how else can i help", "what else can i help",
              "what can i do for you", "what would you like to do", "start over")),
    ("not_understood", ("didn't catch", "another way", "didn't understand", "say that again", "sorry")),
]
# "type your date of birth on your keypad" heard "... on your Keep at": a person still knows the keys
KEYPAD_WORDS = ("keypad", "type it", "type them", "type eight", "type your", "press ")
# a read-back of what the bot understood ("I have your name as ...", not "can I have your name?")
READBACK = re.compile(r"\bso that's\b|\bto confirm\b|(?<!can )(?<!could )(?<!may )\bi have your\b|(?:^|[.?!] )i have [a-z]+ [a-z]+|"
                      r"\bi've got your\b|\bso i'll change\b|\bi'll move your\b")
ROOM_WORDS = {"standard": "standard", "double": "double", "twin": "twin", "family": "family", "suite": "suite",
              "sweet": "suite"}


@dataclass
class Move:
    say: str | None = None
    dtmf: str | None = None
    human_digits: str | None = None  # said by the persona's FSDD speaker instead of the TTS voice
    hangup: bool = False
    slot: str = "free"  # what the words answer: free, date, time, person_name, phone_number, digits, yes_no, enum, number

    @property
    def label(self) -> str:
        if self.dtmf:
            return f"[keys {self.dtmf}]"
        return self.say or ("[digits]" if self.human_digits else "[hang up]")


@dataclass
class CallerState:
    persona: Persona
    now: datetime
    opened: bool = False
    faq_done: bool = False
    booking_asked: bool = False
    first_given: bool = False
    slipped: bool = False
    verify_tries: int = 0
    name_left_to_team: bool = False  # the bot said its team will check the name's spelling
    task_heard_done: bool = False  # the bot said the task is done ("you're all set", "frozen")
    restated: int = 0  # times the task was asked for again at "anything else?"
    wrong_part: str | None = None  # what the last read-back the caller disputed got wrong ("time")
    task_corrections: int = 0  # times the caller said the bot had taken the wrong task
    turns: int = 0
    asks: Counter = field(default_factory=Counter)
    helped: Counter = field(default_factory=Counter)  # asks heard with an offer of the keypad or a person
    last: Move | None = None
    current: str | None = None  # the ask being answered
    keys_only: bool = False  # the bot's last question asks for the keypad, with no "or say it"
    done: bool = False


# --------------------------------------------------------------------------- words


def spoken_digits(digits: str, groups: tuple[int, ...] = ()) -> str:
    words, pos = [], 0
    for size in groups or (len(digits),):
        words.append(" ".join(DIGIT_WORDS[int(d)] for d in digits[pos:pos + size]))
        pos += size
    return ", ".join(words)


def spoken_phone(phone: str) -> str:
    return spoken_digits(phone, (3, 3, 4))


def spoken_date(d: date, style: int = 0) -> str:
    month, day = MONTHS[d.month - 1], ordinal_words(d.day)
    if style % 3 == 0:
        return f"{WEEKDAYS[d.weekday()]} {month} {day}"
    if style % 3 == 1:
        return f"{month} {day}"
    return f"the {day} of {month}"


def spoken_time(at: tuple[int, int], style: int = 0) -> str:
    h, m = at
    h12 = h % 12 or 12
    base = number_words(h12) + ("" if m == 0 else " " + number_words(m))
    if style % 2 == 0:
        return base + (" in the morning" if h < 12 else " in the afternoon")
    return base + (" a m" if h < 12 else " p m")


def spoken_dob(d: date) -> str:
    return f"{MONTHS[d.month - 1]} {ordinal_words(d.day)} {year_words(d.year)}"


PHONE_KEYS = {letter: str(key) for key, letters in enumerate(("", "", "abc", "def", "ghi", "jkl", "mno", "pqrs", "tuv",
                                                              "wxyz")) for letter in letters}


def typed_name(word: str) -> str:
    """The keys a caller presses to type ``word``, one per letter, and the pound key."""
    return "".join(PHONE_KEYS[c] for c in word.lower() if c in PHONE_KEYS) + "#"


def spelled(word: str) -> str:
    return ", ".join(ch.upper() for ch in word if ch.isalpha())


def nights(p: Persona) -> int:
    return (p.departure - p.arrival).days if p.arrival and p.departure else 1


# --------------------------------------------------------------------------- reading the bot


def last_question(text: str, sentences: int = 2) -> str:
    """The bot's last one or two sentences, lower case: what it is asking now."""
    text = re.sub(r"\b(dr|mr|mrs|ms)\.", r"\1", text.strip(), flags=re.IGNORECASE)
    parts = [s for s in re.split(r"(?<=[.?!])\s+", text) if s]
    tail = " ".join(parts[-sentences:]).lower().replace("dr ", "doctor ")
    return tail.replace("first and last name", "full name")


# the bot's offer of keys ends its turn, over several sentences ("... on your keypad. 4 digits. For example ...")
KEYS_OFFERED = re.compile(r"\byou can also (?:press|type)\b.*$", re.IGNORECASE | re.DOTALL)


def classify(text: str) -> str:
    """What the bot asks: a goodbye or a hand-over said as a statement, else the ask of the last
    sentence, else of the last two or three ("unknown" when nothing matches)."""
    # "You can also press 1 for day, ... 5 for name": the keys on offer ask nothing by themselves,
    # except a name typed on them ("You can also type your last name on your keypad"): that is the ask
    offer = KEYS_OFFERED.search(text)
    if offer is not None and not any(w in offer.group(0).lower() for w in dict(ASKS)["key_name"]):
        text = KEYS_OFFERED.sub("", text).strip() or text
    last = last_question(text, 1)
    if "?" not in last:
        if any(w in last for w in ("connect you", "put you through", "one moment", "transfer")):
            return "transferring"
        if re.search(r"\b(goodbye|good bye|bye)\b", last):
            return "goodbye"
    if READBACK.search(text.lower()) and "anything else" not in last:
        return "confirm"  # a read-back, even when its question was cut off
    for n in (1, 2, 3):
        tail = last_question(text, n)
        for ask, words in ASKS:
            if ask == "offer_person" and "?" not in tail:
                continue
            if any(w in tail for w in words):
                return ask
    return "unknown"


def offers_keypad(text: str) -> bool:
    return any(w in text.lower() for w in KEYPAD_WORDS)


SAY_OFFERED = re.compile(r"\bor say\b|\bsay (?:it|them)\b|\byou can (?:also )?say\b|\bor tell me\b")


def asks_only_for_keys(text: str) -> bool:
    """Whether the bot's question asks for the keypad and leaves no room to say the answer
    ("Please type your date of birth on your keypad, ..."): a person types, as asked."""
    tail = last_question(text, 2)
    return offers_keypad(tail) and not SAY_OFFERED.search(tail)


def offers_person(text: str) -> bool:
    low = text.lower()
    return "person" in low or "someone" in low or "team" in low


def dates_in(text: str, now: datetime) -> list[str]:
    ctx = ParseContext(now=now)
    return [v.value for v in extract("date", text, ctx)]


def times_in(text: str, now: datetime) -> list[str]:
    ctx = ParseContext(now=now)
    return [v.value for v in extract("time", text, ctx)]


def name_heard(text: str, name: str) -> bool:
    """Whether every part of ``name`` is (roughly) among the bot's words."""
    words = re.findall(r"[a-z']+", text.lower())
    return all(max((SequenceMatcher(None, part, w).ratio() for w in words), default=0) >= 0.75
               for part in name.lower().split())


# --------------------------------------------------------------------------- answers


def opening(st: CallerState) -> Move:
    p = st.persona
    task = p.task
    if task == "book" and p.style == "over":
        return Move(f"hi, i'd like to book a {p.visit} with {PROVIDER_WORDS[p.provider].replace(' is fine', '')} "
                    f"on {spoken_date(p.day)} at {spoken_time(p.at)}, my name is {p.full_name}", slot="free")
    if task in ("faq_book", "hours") and not st.faq_done:
        return Move(p.faq[0])
    lines = {
        "book": "hi, i'd like to make an appointment please",
        "faq_book": "great, and i'd like to make an appointment",
        "reschedule": "hi, i need to move my appointment to another day",
        "cancel": "hello, i need to cancel my appointment",
        "hours": "no thanks, goodbye",
        "emergency": p.emergency_line or "it's an emergency",
        "balance": "hi, what's the balance on my account",
        "lost_card": f"hi, this is {p.full_name}, i lost my debit card",
        "impostor": "i want to know how much money is in my account",
        "hotel_book": "hi, i'd like to book a room",
        "hotel_change": "hello, i need to change the dates of my reservation",
    }
    if task == "hotel_book" and p.style == "over":
        return Move(f"hi, i'd like to book a {p.room} room for {number_words(p.guests)} "
                    f"{'person' if p.guests == 1 else 'people'}, arriving {spoken_date(p.arrival)} "
                    f"for {number_words(nights(p))} night{'s' if nights(p) > 1 else ''}")
    return Move(lines[task])


def number_move(st: CallerState, digits: str, keypad_offered: bool, spoken: str, slot: str) -> Move:
    """A number: keys when offered and liked, else the FSDD speaker or the TTS voice."""
    p = st.persona
    tried = st.asks[st.current] if st.current else 0
    if keypad_offered and (p.keypad or tried > 2 or st.keys_only):  # keys if liked or asked, or after two tries
        return Move(dtmf=digits + "#", slot=slot)
    if p.human_digits:
        return Move(human_digits=digits, say=" ".join(DIGIT_WORDS[int(d)] for d in digits), slot=slot)
    return Move(spoken, slot=slot)


def name_move(st: CallerState, ask: str) -> Move:
    p = st.persona
    if ask == "last_name":
        return Move(f"it's {p.last}", slot="person_name")
    if ask == "first_name":
        return Move(p.first, slot="person_name")
    if p.style == "first" and not st.first_given:
        st.first_given = True
        return Move(f"it's {p.first}", slot="person_name")
    return Move(f"my name is {p.full_name}", slot="person_name")


def _wrong_name(st: CallerState, text: str) -> Move | None:
    """A read-back of the caller's name heard wrong is corrected, until the bot has said its team
    will check the spelling with the caller: a person then lets the name be and answers about
    the rest ("apart from the name, is everything right?")."""
    p = st.persona
    low = text.lower()
    if "check the spelling" in low or "apart from the name" in low:
        st.name_left_to_team = True
    if st.name_left_to_team:
        return None
    if "name" in low or p.task in ("book", "faq_book", "hotel_book"):
        if not name_heard(text, p.full_name if "name" in text.lower() else p.last):
            return Move(f"no, my name is {p.full_name}", slot="person_name")
    return None


# the ear may put a word between "spelled" and the letters ("Spell best, D-A-N-I."): skipped
SPELLED_OUT = re.compile(r"\bspel(?:led|lt|l)\w*[\s,.]+(?:[a-z]{2,}[\s,.]+)?((?:[a-z]\b[\s,.-]*){3,})")


def _wrong_spelling(st: CallerState, text: str) -> Move | None:
    """A name read back letter by letter ("I have ..., spelled F, R, R, I, R, A") is checked
    letter by letter, as a person checks a spelling, against the part it spells: "Darian, spelled
    D, A, R, I, A, N" is not Farhan, however the caller's own name primes the ear. One letter off
    is the ear, not the bot (tiny.en hears "spelled" as "spell" and an I as an A), so it passes;
    more is a wrong name, and the spelling is given again."""
    if st.name_left_to_team:
        return None
    found = SPELLED_OUT.search(text.lower())
    if found is None:
        return None
    letters = "".join(re.findall(r"[a-z]", found.group(1)))
    p = st.persona
    parts = {part: re.sub(r"[^a-z]", "", part.lower()) for part in (p.first, p.last)}
    part = min(parts, key=lambda k: Levenshtein.distance(parts[k], letters))  # the part being spelled
    if Levenshtein.distance(parts[part], letters) <= 1:
        return None
    return Move(f"no, it's {spelled(part)}", slot="spelling")


def _wrong_phone(st: CallerState, text: str) -> Move | None:
    said = [x for x in re.split(r"(?<=[.?!])\s+", text) if "phone" in x.lower() or "number" in x.lower()]
    digits = re.sub(r"\D", "", " ".join(said))
    # the caller's ear (Whisper on the bot's voice) doubles or drops a digit of a right read-back
    # ("6 1 5, 2 0 2, 0 2 5 5" heard "615-20202555"); a person would have heard it right. One
    # digit off is let pass: the stored record, not the ear, decides success.
    if len(digits) >= 7 and min(Levenshtein.distance(digits[-n:], st.persona.phone) for n in (9, 10, 11)) > 1:
        return Move(f"no, my number is {spoken_phone(st.persona.phone)}", slot="phone_number")
    return None


def _wrong_dob(st: CallerState, text: str) -> Move | None:
    """A date of birth read back wrong ("I have your date of birth as ...") is corrected."""
    dob = st.persona.dob
    if dob is None or "birth" not in text.lower():
        return None
    heard = dates_in(text, st.now)
    if heard and dob.isoformat() not in heard:
        return Move(f"no, {spoken_dob(dob)}", slot="date")
    return None


def _wrong_stay(st: CallerState, text: str) -> Move | None:
    p = st.persona
    low = text.lower()
    heard = dates_in(text, st.now)
    if heard and heard[:2] != [p.arrival.isoformat(), p.departure.isoformat()]:
        return Move(f"no, arriving {spoken_date(p.arrival, 1)} for {number_words(nights(p))} nights", slot="date")
    rooms = {ROOM_WORDS[w] for w in re.findall(r"[a-z]+", low) if w in ROOM_WORDS}
    if rooms and p.room not in rooms:
        return Move(f"no, a {p.room} room", slot="enum")
    counts = re.findall(r"(\w+) guests?\b", low)
    if counts and counts[0] not in (str(p.guests), number_words(p.guests)):
        return Move(f"no, {number_words(p.guests)} {'guest' if p.guests == 1 else 'guests'}", slot="number")
    return None


def _wrong_visit(st: CallerState, text: str) -> Move | None:
    p = st.persona
    days, times = dates_in(text, st.now), times_in(text, st.now)
    if days and p.day.isoformat() not in days:
        return Move(f"no, {spoken_date(p.day, 1)}", slot="date")
    if times and f"{p.at[0]:02d}:{p.at[1]:02d}" not in times:
        return Move(f"no, {spoken_time(p.at)}", slot="time")
    return None


def confirm_move(st: CallerState, text: str) -> Move:
    """Yes, or a correction of the first fact the read-back got wrong (dates, times, room,
    guests, the name, the phone number)."""
    p = st.persona
    low = text.lower()
    booked = p.old_day or p.old_arrival  # the booking found for us ("is that yours?")
    if booked is not None and ("yours" in low or ("cancel" in low and p.task == "cancel")):
        found = dates_in(text, st.now)
        if found and booked.isoformat() not in found:
            return Move("no, that's not mine", slot="yes_no")
        return Move("yes, that's the one" if "yours" in low else "yes please", slot="yes_no")
    if "cash machine" in low or "without your permission" in low:
        return Move("no, i lost it", slot="yes_no")
    checks = [_wrong_spelling, _wrong_name, _wrong_phone, _wrong_dob]
    if p.vertical == "hotel":
        checks.insert(0, _wrong_stay)
    elif p.day is not None:
        checks.insert(0, _wrong_visit)
    for check in checks:
        wrong = check(st, text)
        if wrong is not None:
            st.wrong_part = WRONG_PART.get(wrong.slot, st.wrong_part)
            if wrong.slot == "date" and p.vertical == "hotel":
                st.wrong_part = "dates"
            return wrong
    return Move("yes, that's right" if p.vertical == "hotel" else "yes please", slot="yes_no")


YES_KEY = re.compile(r"\bpress (?:1|one) if (?:that's|that is|it's) (?:right|correct)")


def _yes_on_key(st: CallerState, move: Move, text: str) -> Move:
    """A yes to a summary that offers it on a key ("press 1 if that's right") is pressed, as
    numbers are: if the caller likes keys, or after the summary was heard twice."""
    if move.slot == "yes_no" and (move.say or "").startswith("yes") and YES_KEY.search(text.lower()):
        if st.persona.keypad or st.asks["confirm"] > 2:
            return Move(dtmf="1", slot="yes_no")
    return move


def _departure_move(st: CallerState, text: str) -> Move:
    """The nights, said; the check-out day on the keypad once the bot offers keys for it."""
    p = st.persona
    keyed = _date_move(st, text, p.departure) if p.departure else None
    if keyed is not None and keyed.dtmf:
        return keyed
    return Move(f"for {number_words(nights(p))} night{'s' if nights(p) > 1 else ''}", slot="number")


def _date_move(st: CallerState, text: str = "", day: date | None = None) -> Move:
    """The day, said; on the keypad (month and day) once the bot offers it after a miss."""
    p = st.persona
    day = day or p.day or p.arrival  # a hotel guest asked "which date?" gives the arrival
    tried = st.asks[st.current] if st.current else 0
    if day is not None and offers_keypad(text) and re.search(r"month and (?:the )?day", text.lower()) and (p.keypad or tried > 1):
        return Move(dtmf=f"{day.month:02d}{day.day:02d}#", slot="date")
    return Move(spoken_date(day, st.turns), slot="date")


def _time_move(st: CallerState, text: str = "") -> Move:
    """The time, said; on the keypad (four digits, 24-hour clock) once the bot offers it after a miss."""
    p = st.persona
    if p.slip_at and not st.slipped:
        st.slipped = True
        return Move(spoken_time(p.slip_at, 1), slot="time")
    tried = st.asks[st.current] if st.current else 0
    if offers_keypad(text) and "type the time" in text.lower() and (p.keypad or tried > 1):
        return Move(dtmf=f"{p.at[0]:02d}{p.at[1]:02d}#", slot="time")
    return Move(spoken_time(p.at, st.turns), slot="time")


def _factor_move(st: CallerState, keypad: bool) -> Move:
    p = st.persona
    if p.task == "impostor":
        guess = p.impostor_guesses[st.verify_tries % len(p.impostor_guesses)]
        st.verify_tries += 1
        return number_move(st, guess, keypad, f"the last four of my social are {spoken_digits(guess)}", "digits")
    if p.factor == "zip":
        return number_move(st, p.zip_code, keypad, f"my zip code is {spoken_digits(p.zip_code)}", "digits")
    return number_move(st, p.ssn_last4, keypad, f"the last four of my social are {spoken_digits(p.ssn_last4)}",
                       "digits")


def _dob_move(st: CallerState, keypad: bool) -> Move:
    d = st.persona.dob
    tried = st.asks[st.current] if st.current else 0
    if keypad and (st.persona.keypad or tried > 2 or st.keys_only):  # as for numbers
        return Move(dtmf=f"{d.month:02d}{d.day:02d}{d.year}#", slot="digits")
    return Move(spoken_dob(d), slot="date")


MENU_ITEM = re.compile(r"(?:press\s+)?\b([1-9]|one|two|three|four|five|six|seven|eight|nine)\s+(?:for|4)\s+([a-z.' -]+?)"
                       r"(?=,|\.|;|\bor\b|$)")
MENU_FILLER = {"a", "an", "the", "please", "is", "fine", "room", "doctor", "dr", "i", "it", "its", "my", "of"}


def menu_key(bot_text: str, wanted: str) -> str | None:
    """The key of a spoken menu ("press 1 for cleaning, 2 for filling") whose choice is the one
    the caller would have said; None when no menu is offered or none of its choices is it."""
    low = re.sub(r"\b(dr|mr|mrs|ms)\.", r"\1", bot_text.lower())  # a title's dot ends no choice
    if "press" not in low:
        return None
    want = [w for w in re.findall(r"[a-z]+", wanted.lower()) if w not in MENU_FILLER]
    best: tuple[float, str] | None = None
    for key, label in MENU_ITEM.findall(low):
        words = [w for w in re.findall(r"[a-z]+", label) if w not in MENU_FILLER]
        score = max((Levenshtein.normalized_similarity(a, b) for a in words for b in want), default=0.0)
        if score >= 0.8 and (best is None or score > best[0]):
            best = (score, str(UNITS.get(key, key)))
    return best[1] if best else None


# what the bot says it is doing, when it took the call for another task than the caller's
TASK_TAKEN = re.compile(r"\b(?:move|reschedule|cancel) your (?:appointment|booking)\b|"
                        r"\b(?:change|cancel) your reservation\b")
WANTED = {"book": "i'd like to book a new appointment", "faq_book": "i'd like to book a new appointment",
          "hotel_book": "i'd like to book a new room"}
MAX_TASK_CORRECTIONS = 2


def _wrong_task(st: CallerState, text: str) -> Move | None:
    """A caller who wants a new booking and hears the bot set about moving or cancelling one
    says so ("no, i don't want to change anything, i'd like to book a new appointment"), twice at
    most, as a person would; None when the bot is on the caller's task."""
    want = WANTED.get(st.persona.task)
    if want is None or st.task_corrections >= MAX_TASK_CORRECTIONS:
        return None
    low = text.lower()
    if not TASK_TAKEN.search(low):
        return None
    st.task_corrections += 1
    return Move(f"no, i don't want to change anything, {want}")


# the word of the bot's menu of requests ("press 1 for a new appointment") that names each task
TASK_MENU_WORDS = {"book": "new", "faq_book": "new", "reschedule": "moving", "cancel": "cancelling",
                   "balance": "balance", "impostor": "balance", "lost_card": "lost", "hotel_book": "new",
                   "hotel_change": "changing"}


def _pressed(move: Move, bot_text: str) -> Move:
    """A choice the bot offers on a key is pressed, as a caller does; any other move as it is."""
    key = menu_key(bot_text, move.say) if move.slot == "enum" and move.say else None
    return Move(dtmf=key, slot="enum") if key is not None else move


# the part of a read-back a correction was about, as the caller names it when asked what to change
WRONG_PART = {"date": "day", "time": "time", "enum": "room type", "number": "guests", "person_name": "name",
              "spelling": "name", "phone_number": "phone number"}


def _change_move(st: CallerState) -> Move:
    p = st.persona
    if st.wrong_part:  # the part the caller just said was wrong
        return Move(f"the {st.wrong_part}", slot="enum")
    if p.vertical == "hotel":
        return Move("the dates", slot="enum")
    return Move(f"the time, {spoken_time(p.at)}", slot="time") if st.slipped else Move("the day", slot="enum")


def _answer(st: CallerState, ask: str, text: str) -> Move | None:
    """The persona's answer to ``ask`` (None: no rule for it)."""
    p = st.persona
    keypad = offers_keypad(text)
    simple = {
        # "... or spell your booking reference": a caller with no reference to hand gives the number
        "spell": lambda: number_move(st, p.phone, keypad, f"it's {spoken_phone(p.phone)}", "phone_number")
        if "reference" in text.lower() and p.phone else
        Move(spelled(p.last if "last" in text.lower() or st.first_given else p.first), slot="spelling"),
        "key_name": lambda: Move(dtmf=typed_name(p.first if "first name" in text.lower() else p.last),
                                 slot="person_name"),
        "reservation_number": lambda: Move(f"i don't have it, it's under {p.full_name}", slot="person_name"),
        "old_arrival": lambda: Move(spoken_date(p.old_arrival, 1), slot="date"),
        "change_what": lambda: _change_move(st),
        "departure": lambda: _departure_move(st, text),
        "guests": lambda: Move(f"{number_words(p.guests)} {'guest' if p.guests == 1 else 'guests'}", slot="number"),
        "room": lambda: Move(f"a {p.room} room", slot="enum"),
        "visit": lambda: Move(f"a {p.visit} please", slot="enum"),
        "provider": lambda: Move(PROVIDER_WORDS[p.provider or "any"], slot="enum"),
        "account": lambda: Move({"all": "all of them"}.get(p.account_kind, p.account_kind), slot="enum"),
        "card_problem": lambda: Move("i lost it", slot="enum"),
        "date": lambda: _date_move(st, text),
        "time": lambda: _time_move(st, text),
        "confirm": lambda: _yes_on_key(st, confirm_move(st, text), text),
        "dob": lambda: _dob_move(st, keypad),
        "factor": lambda: _factor_move(st, keypad),
        "phone": lambda: number_move(st, p.phone, keypad, f"it's {spoken_phone(p.phone)}", "phone_number"),
    }
    if ask in simple:
        return simple[ask]()
    if ask in ("name", "first_name", "last_name"):
        return name_move(st, ask)
    if ask == "arrival":
        return _date_move(st, text, p.arrival if p.vertical == "hotel" else None)
    return None


def next_move(st: CallerState, text: str) -> Move:
    """What the persona says after the bot said ``text``."""
    p = st.persona
    ask = classify(text)
    st.asks[ask] += 1
    st.current = ask
    st.keys_only = asks_only_for_keys(text)
    if offers_keypad(text) or offers_person(text):
        st.helped[ask] += 1
    st.turns += 1
    if st.turns > MAX_TURNS or ask in ("goodbye", "transferring"):
        return _finish(st, Move(hangup=True))
    if DONE_WORDS.search(text.lower()):
        st.task_heard_done = True
    if ask == "anything_else":
        if p.task == "faq_book" and not st.booking_asked:
            st.faq_done = st.booking_asked = True
            return _remember(st, Move("yes, i'd like to make an appointment please"))
        if p.task in FORM_TASKS and not st.task_heard_done and not st.asks["confirm"] and st.restated < 2:
            # the bot answered something else (a misheard opening taken for a question): a
            # caller whose task is not done, and never got as far as a confirmation, asks for it
            # again instead of saying goodbye
            st.restated += 1
            return _remember(st, Move("yes, " + (opening(st).say or "")))
        return _finish(st, Move("no thanks, goodbye", slot="yes_no"))
    if ask == "offer_person":
        if p.task == "emergency":
            return _remember(st, Move("yes please", slot="yes_no"))
        return _remember(st, Move("no thanks, let's keep going", slot="yes_no"))
    if ask == "open" or not st.opened:
        key = menu_key(text, TASK_MENU_WORDS.get(p.task, "")) if st.opened and not (
            p.task in ("faq_book", "hours") and not st.faq_done) else None
        if key is not None:  # the request not understood, and offered on keys: pressed
            return _remember(st, Move(dtmf=key, slot="enum"))
        if st.opened and p.task in ("faq_book", "hours"):
            st.faq_done = True
        st.opened = True
        if p.task == "faq_book" and st.faq_done:
            st.booking_asked = True
        return _remember(st, opening(st))
    wrong = _wrong_task(st, text)
    if wrong is not None:
        return _remember(st, wrong)
    move = _answer(st, ask, text)
    if move is not None:
        return _remember(st, _pressed(move, text))
    if ask == "still_there":
        return _remember(st, Move("yes, i'm here. " + (st.last.say or "") if st.last else "yes, i'm here"))
    if p.task in ("faq_book", "hours") and not st.faq_done:  # the answer to the question
        st.faq_done = True
        if p.task == "hours":
            return _finish(st, Move("great, thanks, goodbye", slot="free"))
        st.booking_asked = True
        return _remember(st, Move("thanks. i'd also like to make an appointment"))
    if st.last is not None:  # not understood: say it again, or press its key if offered
        return _remember(st, _pressed(st.last, text))
    return _remember(st, opening(st))


def _remember(st: CallerState, move: Move) -> Move:
    st.last = move
    return move


def _finish(st: CallerState, move: Move) -> Move:
    st.done = True
    return move


def unhelped_repeats(st: CallerState) -> int:
    """Questions heard more than twice with no offer of the keypad or a person among them."""
    skip = {"open", "unknown", "goodbye", "transferring", "anything_else", "offer_person", "still_there"}
    return sum(1 for ask, n in st.asks.items() if n > 2 and ask not in skip and st.helped[ask] == 0)

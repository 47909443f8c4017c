"""Word lists the claim splitter and the exact checker share. English only; all lower-case."""

from __future__ import annotations


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ---- sentence splitting --------------------------------------------------------------------------
# A "." after these never ends a sentence.
ALWAYS_ABBREV = words(
    "e.g i.e eg ie cf vs viz approx ca al dr mr mrs ms prof st mt rev gen col capt lt sgt hon gov sen rep "
    "fr messrs esp incl excl"
)
# … nor after these when a digit follows ("No. 5", "Fig. 3", "p. 12", "Jan. 5").
NUMBER_ABBREV = words(
    "no nos nr fig figs vol vols p pp sec ch chap art arts eq eqs ref refs tab para op ed item items "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
# … and after these (and dotted acronyms, initials) only when a usual sentence opener follows.
MAYBE_ABBREV = words("etc inc ltd co corp bros univ dept est jr sr")
SENTENCE_OPENERS = words(
    "the a an this that these those it its they their there he she we i our in on at for however but so "
    "then thus also as after before when if while although since each all both some many most no not one"
)

# ---- clauses -------------------------------------------------------------------------------------
DETERMINERS = words(
    "the a an this that these those its their his her our my your each every all both some many most no "
    "another such any either neither several"
)
SUBJECTS = DETERMINERS | words("it they he she we i you there one")
AUXILIARIES = words(
    "is are was were be been being has have had will would can could shall should may might must does do "
    "did isn't aren't wasn't weren't hasn't haven't hadn't won't wouldn't can't cannot couldn't doesn't "
    "don't didn't shouldn't mustn't"
)
# Verbs whose base or irregular forms the -s / -ed heuristics would miss (third-person forms added below).
_VERB_BASES = words(
    "run open close operate require use contain include reach exceed start stop produce provide need take "
    "last cost weigh support allow prevent cover show hold remain become seem supply generate consume "
    "cause rise fall occur apply mean say state rose fell grew began became took gave made got went came "
    "held ran led kept left met paid sent set sold told won wrote stay keep"
)
VERBS = _VERB_BASES | {verb + "s" for verb in _VERB_BASES} | {verb + "es" for verb in _VERB_BASES}
# Words that typically follow a finite verb ("runs at", "opens every", "uses 5 kW").
AFTER_VERB = words(
    "at to in on from by with for up down out about every each the a an its their his her over under "
    "after before during between per into onto only also approximately around above below through when "
    "if that this these those no not more less all both some several many automatically manually once "
    "twice daily weekly again"
)

# ---- key terms -----------------------------------------------------------------------------------
STOPWORDS = words(
    "a an the and or but nor so yet if then than that this these those there here it its it's they them "
    "their theirs he him his she her hers we us our ours you your yours i me my mine of in on at by for "
    "with without from to into onto over under about above below between through during before after "
    "up down out off again further once is are was were be been being am has have had having do does did "
    "doing will would shall should can could may might must not no never none also only just very too "
    "more most less least much many some any all each every both either neither such own same other "
    "another as per via while when where which who whom whose what why how whether because since until "
    "although though however thus therefore hence still even already ever also yes ok okay s t "
    "says say said states stated state according mentions mentioned mention notes noted shows shown "
    "source sources document documents passage text based approximately about around roughly nearly "
    "least most prior one"
)
# Words that precede a number without being what it counts ("3 of", "42 in the tank").
NOT_COUNT_NOUNS = STOPWORDS | words("times percent per cent")
ADJECTIVES = words(
    "new old additional extra large small big main other same different separate identical independent "
    "major minor total full half spare further last first second third final initial"
)

# Capitalised words that are not names ("However", "Note", "Answer").
NOT_NAMES = STOPWORDS | words(
    "according based however yes note please therefore also finally first second third here overall additionally "
    "furthermore moreover answer summary i'm i'll i've i'd let wait hmm okay"
)

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "dozen": 12,
}  # fmt: skip
MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
    "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip

# ---- units ---------------------------------------------------------------------------------------
# canonical, dimension, factor to the dimension's base, surfaces (words of 4+ letters match any case)
UNIT_TABLE = (
    ("Pa", "pressure", 1, "Pa pascal pascals"), ("hPa", "pressure", 1e2, "hPa"),
    ("kPa", "pressure", 1e3, "kPa kpa KPa kilopascal kilopascals"), ("MPa", "pressure", 1e6, "MPa megapascal"),
    ("mbar", "pressure", 1e2, "mbar millibar millibars"), ("bar", "pressure", 1e5, "bar bars"),
    ("psi", "psi", 1, "psi PSI"), ("atm", "atm", 1, "atm"), ("rpm", "rpm", 1, "rpm RPM r/min rev/min"),
    ("km/h", "km/h", 1, "km/h kph kmh"), ("m/s", "m/s", 1, "m/s"), ("mph", "mph", 1, "mph"),
    ("W", "power", 1, "W watt watts"), ("kW", "power", 1e3, "kW kilowatt kilowatts"),
    ("MW", "power", 1e6, "MW megawatt megawatts"), ("GW", "power", 1e9, "GW gigawatt gigawatts"),
    ("Wh", "energy", 1, "Wh"), ("kWh", "energy", 1e3, "kWh"), ("MWh", "energy", 1e6, "MWh"),
    ("GWh", "energy", 1e9, "GWh"), ("TWh", "energy", 1e12, "TWh"), ("J", "joule", 1, "J joule joules"),
    ("kJ", "joule", 1e3, "kJ"), ("MJ", "joule", 1e6, "MJ"), ("GJ", "joule", 1e9, "GJ"), ("hp", "hp", 1, "hp horsepower"),
    ("°C", "celsius", 1, "°C °_C degrees_Celsius degree_Celsius degrees_celsius celsius degC"),
    ("°F", "fahrenheit", 1, "°F °_F degrees_Fahrenheit fahrenheit"), ("K", "kelvin", 1, "kelvin"),
    ("°", "angle", 1, "° degrees degree"), ("%", "percent", 1, "% percent per_cent pct"), ("pp", "points", 1, "pp"),
    ("nm", "length", 1e-9, "nm"), ("µm", "length", 1e-6, "µm μm micron microns"),
    ("mm", "length", 1e-3, "mm millimetre millimetres millimeter millimeters"),
    ("cm", "length", 1e-2, "cm centimetre centimetres centimeter centimeters"),
    ("m", "length", 1, "m metre metres meter meters"), ("km", "length", 1e3, "km kilometre kilometres kilometer kilometers"),
    ("in", "inch", 1, "inch inches"), ("ft", "foot", 1, "ft feet foot"), ("mi", "mile", 1, "mile miles"),
    ("mg", "mass", 1e-3, "mg milligram milligrams"), ("g", "mass", 1, "g gram grams"),
    ("kg", "mass", 1e3, "kg kilogram kilograms kilo kilos"), ("t", "mass", 1e6, "tonne tonnes"), ("lb", "lb", 1, "lb lbs"),
    ("ml", "volume", 1e-3, "ml mL millilitre millilitres milliliter milliliters"),
    ("l", "volume", 1, "l L litre litres liter liters"), ("m³", "volume", 1e3, "m³ m3"),
    ("µs", "time", 1e-6, "µs μs microsecond microseconds"), ("ms", "time", 1e-3, "ms msec millisecond milliseconds"),
    ("s", "time", 1, "s sec secs second seconds"), ("min", "time", 60, "min mins minute minutes"),
    ("h", "time", 3600, "h hr hrs hour hours"), ("days", "time", 86400, "day days"),
    ("weeks", "time", 604800, "week weeks wk wks"), ("months", "month", 1, "month months"),
    ("years", "year", 1, "year years yr yrs"), ("Hz", "frequency", 1, "Hz hertz"), ("kHz", "frequency", 1e3, "kHz"),
    ("MHz", "frequency", 1e6, "MHz"), ("GHz", "frequency", 1e9, "GHz"), ("V", "voltage", 1, "V volt volts"),
    ("mV", "voltage", 1e-3, "mV"), ("kV", "voltage", 1e3, "kV"), ("A", "current", 1, "amp amps ampere amperes"),
    ("mA", "current", 1e-3, "mA"), ("Ω", "ohm", 1, "Ω ohm ohms"), ("bytes", "bytes", 1, "byte bytes"),
    ("kB", "bytes", 1e3, "kB KB"), ("MB", "bytes", 1e6, "MB"), ("GB", "bytes", 1e9, "GB"), ("TB", "bytes", 1e12, "TB"),
    ("KiB", "bytes", 1024, "KiB"), ("MiB", "bytes", 1024**2, "MiB"), ("GiB", "bytes", 1024**3, "GiB"),
    ("Mbps", "bitrate", 1e6, "Mbps Mbit/s Mb/s"), ("Gbps", "bitrate", 1e9, "Gbps Gbit/s Gb/s"),
    ("EUR", "cur:EUR", 1, "EUR € euro euros"), ("USD", "cur:USD", 1, "USD $ US$ dollar dollars"),
    ("GBP", "cur:GBP", 1, "GBP £"), ("CHF", "cur:CHF", 1, "CHF"), ("JPY", "cur:JPY", 1, "JPY ¥ yen"),
)  # fmt: skip
CURRENCY_PREFIX = {"€": "EUR", "$": "USD", "US$": "USD", "£": "GBP", "¥": "JPY", "EUR": "EUR", "USD": "USD",
                    "GBP": "GBP", "CHF": "CHF", "JPY": "JPY"}  # fmt: skip
SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "bn": 1e9, "mn": 1e6,
           "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9}  # fmt: skip

# ---- polarity ------------------------------------------------------------------------------------
# (side A, side B) as regex alternations of word forms; a claim on one side against evidence on the
# other (and not on the claim's side) is an antonym mismatch.
ANTONYMS: tuple[tuple[str, str, str, str], ...] = (
    ("increase", r"increas(?:e|es|ed|ing)|ris(?:e|es|en|ing)|rose|grow(?:s|n|ing)?|grew",
     "decrease", r"decreas(?:e|es|ed|ing)|fall(?:s|en|ing)?|fell|drop(?:s|ped|ping)?|declin(?:e|es|ed|ing)|"
     r"reduc(?:e|es|ed|ing)"),
    ("above", r"above", "below", r"below|beneath"),
    ("before", r"before|prior\s+to", "after", r"after"),
    ("open", r"open(?:s|ed|ing)?", "closed", r"clos(?:e|es|ed|ing)(?!\s+to\b)|shut(?:s|ting)?"),
    ("enabled", r"enabl(?:e|es|ed|ing)", "disabled", r"disabl(?:e|es|ed|ing)"),
    ("allowed", r"allow(?:s|ed|ing)?|permit(?:s|ted|ting)?|permissible",
     "forbidden", r"forbid(?:s|den|ding)?|prohibit(?:s|ed|ing)?|disallow(?:s|ed)?"),
    ("minimum", r"minim(?:um|a|al|ally)|at\s+least", "maximum", r"maxim(?:um|a|al|ally)|max|at\s+most"),
    ("more", r"more|greater|larger|bigger|exceed(?:s|ed|ing)?", "less", r"less|fewer|smaller"),
    ("higher", r"higher|high", "lower", r"lower|low"),
    ("on", r"(?:is|are|was|were|be|been|turned|switched|stays?|remains?|kept|left|goes|went)\s+on|on(?=\s*(?:[.,;]|$))",
     "off", r"off"),
    ("true", r"true|correct", "false", r"false|incorrect"),
    ("inside", r"inside|indoors?", "outside", r"outside|outdoors?"),
    ("start", r"start(?:s|ed|ing)?|begins?|began", "stop", r"stop(?:s|ped|ping)?"),
    ("success", r"succe(?:ss|ssful|ssfully|eded|eds)", "failure", r"fail(?:s|ed|ure|ures|ing)?"),
    ("include", r"includ(?:e|es|ed|ing)", "exclude", r"exclud(?:e|es|ed|ing)"),
    ("required", r"requir(?:e|es|ed)|mandatory|compulsory", "optional", r"optional|voluntary"),
    ("valid", r"valid", "invalid", r"invalid"),
)  # fmt: skip

"""Build a demo newsroom: sections, authors, photos and 120 stories.

Everything is generated here (word lists, templates and Pillow drawings), so
the demo needs no network and carries no copied text or pictures. A seeded
``random.Random`` makes the content the same on every machine; only the dates
follow the clock, so that the demo always looks current.

Demo authors are recognised by their e-mail domain (``DEMO_EMAIL_DOMAIN``);
demo stories are those with a demo author in their byline. That is how the
command knows the demo is already there, and what ``--reset`` deletes.
"""

import io
import math
import random
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image, ImageDraw, ImageFont, ImageOps
from taggit.models import Tag

from articles.models import Article, Author, Byline, Correction, Photo, Section

SEED = 20240601
DEMO_EMAIL_DOMAIN = "demo.newsroom.example"
STORY_COUNT = 120
PHOTO_COUNT = 36
DRAFT_COUNT = 8
IN_REVIEW_COUNT = 5
SCHEDULED_COUNT = 4
FEATURED_COUNT = 10
CORRECTED_COUNT = 8
WITH_RELATED_COUNT = 30
DAYS_BACK = 60
PHOTO_SIZE = (1600, 1000)
PORTRAIT_SIZE = (600, 600)

# -- Content ------------------------------------------------------------------

SECTIONS = [
    {
        "slug": "politics",
        "name": "Politics",
        "description": "City hall, the statehouse and the people who run for office.",
        "subjects": [
            "The city council",
            "The mayor",
            "The statehouse",
            "The opposition",
            "The governor",
            "The elections board",
            "The budget committee",
            "A cross-party group",
        ],
        "predicates": [
            "backs a rent stabilization plan",
            "delays a vote on the transit budget",
            "rejects new polling station rules",
            "approves a school funding deal",
            "proposes a property tax freeze",
            "opens an ethics inquiry",
            "revives the waterfront rezoning",
            "drops plans for a police oversight board",
            "unveils a network of protected bike lanes",
            "splits over the library budget",
        ],
        "who": ["renters", "homeowners", "voters", "commuters", "parents"],
        "roles": [
            "a council member for the third district",
            "a spokesperson for the mayor's office",
            "a political scientist at the state university",
            "a tenants' organizer",
            "a former council aide",
        ],
        "tags": ["elections", "city council", "housing", "transport", "budget"],
    },
    {
        "slug": "business",
        "name": "Business",
        "description": "Companies, jobs, housing and the local economy.",
        "subjects": [
            "The port authority",
            "A regional bank",
            "A downtown startup",
            "The chamber of commerce",
            "A family-run bakery",
            "The city's largest employer",
            "A local brewery",
            "The oldest hardware store in town",
        ],
        "predicates": [
            "expands into downtown office space",
            "cuts its delivery fleet in half",
            "tries a four-day work week",
            "bets on solar-powered warehouses",
            "doubles its apprenticeship program",
            "warns of higher shipping costs",
            "moves most of its sales online",
            "opens a second factory",
            "pauses hiring until the spring",
            "reports a record quarter",
        ],
        "who": ["workers", "customers", "suppliers", "shop owners", "apprentices"],
        "roles": [
            "the owner of a hardware store on Main Street",
            "an economist at the regional bank",
            "a union representative",
            "the company's chief executive",
            "a supply chain consultant",
        ],
        "tags": ["jobs", "small business", "economy", "energy", "technology"],
    },
    {
        "slug": "science",
        "name": "Science",
        "description": "Research, health, climate and the environment.",
        "subjects": [
            "A university lab",
            "The state health department",
            "A citizen science project",
            "The botanical garden",
            "The children's hospital",
            "The weather service",
            "A team of ecologists",
            "The water utility",
        ],
        "predicates": [
            "tracks river water quality",
            "maps the city's heat islands",
            "tests a new flu vaccine schedule",
            "follows bird migration over the bay",
            "measures carbon in city park soil",
            "finds air pollution spikes near schools",
            "trials a drought-tolerant wheat",
            "looks for microplastics in tap water",
            "launches a long-term study of sleep",
            "counts pollinators in backyard gardens",
        ],
        "who": ["patients", "volunteers", "families", "students", "farmers"],
        "roles": [
            "a hydrologist at the state university",
            "a public health researcher",
            "the project's lead scientist",
            "a volunteer who collects samples",
            "an epidemiologist",
        ],
        "tags": ["climate", "health", "research", "environment", "wildlife"],
    },
    {
        "slug": "culture",
        "name": "Culture",
        "description": "Arts, books, music, film and food.",
        "subjects": [
            "The city orchestra",
            "A new gallery",
            "The public library",
            "A local theater company",
            "The film festival",
            "A neighborhood choir",
            "The history museum",
            "An independent bookstore",
        ],
        "predicates": [
            "revives a forgotten opera",
            "announces its summer program",
            "opens a season of new plays",
            "stays open late on Fridays",
            "unveils a mural trail",
            "shows work by local photographers",
            "hosts a weekend of short films",
            "starts a monthly poetry series",
            "brings a lost painting back on display",
            "celebrates its fiftieth year",
        ],
        "who": ["visitors", "artists", "ticket holders", "musicians", "readers"],
        "roles": [
            "the artistic director",
            "a curator at the history museum",
            "a local novelist",
            "the festival's programmer",
            "a music teacher",
        ],
        "tags": ["music", "theater", "books", "film", "food"],
    },
    {
        "slug": "sport",
        "name": "Sport",
        "description": "Results, previews and the stories behind the teams.",
        "subjects": [
            "Eastport FC",
            "The rowing club",
            "The Northgate High football team",
            "The women's basketball team",
            "A veteran goalkeeper",
            "The marathon committee",
            "The cycling club",
            "The university hockey team",
        ],
        "predicates": [
            "clinches a playoff spot",
            "stages a late comeback",
            "wins the regional title",
            "loses the derby on penalties",
            "plans a new home ground",
            "draws a record crowd",
            "reaches the cup final",
            "holds on for a draw on the road",
            "signs a new head coach",
            "ends a ten-game losing streak",
        ],
        "who": [
            "fans",
            "season ticket holders",
            "players",
            "volunteers",
            "young athletes",
        ],
        "roles": [
            "the head coach",
            "the team captain",
            "a longtime season ticket holder",
            "the club's chair",
            "a youth coach",
        ],
        "tags": ["football", "basketball", "running", "cycling", "schools"],
    },
    {
        "slug": "local",
        "name": "Local",
        "description": "Neighborhoods, schools, transport and everyday life in "
        "the city.",
        "subjects": [
            "The school district",
            "The transit agency",
            "A neighborhood association",
            "The parks department",
            "The fire department",
            "The housing authority",
            "A community garden",
            "The animal shelter",
        ],
        "predicates": [
            "reopens the Elm Street bridge",
            "adds late-night bus service",
            "plants 500 street trees",
            "extends library hours",
            "clears a backlog of potholes",
            "opens a new playground",
            "asks residents about bike lanes",
            "tests flood barriers on the river",
            "starts free school breakfasts",
            "finds homes for 200 pets",
        ],
        "who": ["residents", "parents", "bus riders", "neighbors", "volunteers"],
        "roles": [
            "a parent of two",
            "a neighborhood association leader",
            "a bus driver of twenty years",
            "the parks director",
            "a shop owner on Elm Street",
        ],
        "tags": ["parks", "public safety", "weather", "schools", "transport"],
    },
]

# Tags any story may carry, on top of its section's.
GENERAL_TAGS = ["community", "history", "explainer", "analysis"]

# (name, job title, bio, section slug of their beat)
AUTHORS = [
    (
        "Amara Okafor",
        "Political correspondent",
        "Amara covers the statehouse and elections. She joined the newsroom "
        "in 2016 after eight years at a regional daily.",
        "politics",
    ),
    (
        "Daniel Whitfield",
        "City hall reporter",
        "Daniel follows the city council, its budget and its committees, and "
        "reads the minutes so that readers don't have to.",
        "politics",
    ),
    (
        "Priya Raman",
        "Business editor",
        "Priya leads the business desk. Before journalism she spent five "
        "years as an accountant, which still shows in her spreadsheets.",
        "business",
    ),
    (
        "Tomás Herrera",
        "Economics reporter",
        "Tomás writes about jobs, prices and the port. He grew up above his "
        "parents' grocery store on the east side.",
        "business",
    ),
    (
        "Hannah Lindqvist",
        "Science and health reporter",
        "Hannah trained as a biologist and has covered research and public "
        "health for the newsroom since 2018.",
        "science",
    ),
    (
        "Kenji Watanabe",
        "Climate and environment reporter",
        "Kenji reports on the river, the weather and the changing climate, "
        "often from a kayak.",
        "science",
    ),
    (
        "Sofia Marchetti",
        "Arts critic",
        "Sofia reviews theater, music and exhibitions, and has seen more "
        "opening nights than she can count.",
        "culture",
    ),
    (
        "Malik Johnson",
        "Culture writer",
        "Malik writes about books, film and food, and edits the weekend listings.",
        "culture",
    ),
    (
        "Grace O'Connell",
        "Sports editor",
        "Grace runs the sports desk and still plays in a Sunday league.",
        "sport",
    ),
    (
        "Rafael Souza",
        "Sports reporter",
        "Rafael covers Eastport FC home and away, and the city's youth leagues.",
        "sport",
    ),
    (
        "Leah Goldberg",
        "Local news reporter",
        "Leah covers schools, transit and neighborhoods. Send her your "
        "pothole stories.",
        "local",
    ),
    (
        "Nadia Haddad",
        "Staff photographer",
        "Nadia has photographed the city for the newsroom for a decade, from "
        "council meetings to cup finals.",
        "local",
    ),
]
PHOTOGRAPHER = "Nadia Haddad"
# Existing demo users (made by another command) who get an author page.
AUTHOR_USERS = {"editor": "Priya Raman", "reporter": "Leah Goldberg"}

FIRST_NAMES = [
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Gwen", "Hiro", "Ines",
    "Jonah", "Kira", "Luis", "Maya", "Noor", "Owen", "Pia", "Quinn", "Rosa",
    "Sam", "Tariq", "Uma", "Victor", "Wren", "Yara", "Zoe",
]  # fmt: skip
LAST_NAMES = [
    "Alvarez", "Brennan", "Chen", "Delgado", "Eriksen", "Fischer", "Gupta",
    "Hale", "Ibrahim", "Jensen", "Kowalski", "Larsen", "Mensah", "Novak",
    "Ortiz", "Park", "Quinlan", "Rossi", "Silva", "Tanaka", "Varga", "Walsh",
    "Yilmaz", "Zimmer",
]  # fmt: skip
PLACES = [
    "Millbrook",
    "Northgate",
    "the harbor district",
    "the east side",
    "Old Town",
    "Riverside",
    "Cedar Hill",
    "the university district",
]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

TRIGGERS = [
    "after a long delay",
    "as costs rise",
    "after residents speak out",
    "ahead of the summer",
    "despite objections",
    "in a close vote",
    "after a year of planning",
    "as a deadline nears",
]
DEKS = [
    "The change could reach about {n},000 {who} by {month}.",
    "Supporters call it overdue. Critics say the details are still missing.",
    "It is the first move of its kind in {years} years, and {who} have questions.",
    "Here is what changes, who pays and what happens next.",
    "{person}, {role}, explains why it matters to {who} in {place}.",
    "The decision follows months of debate in {place}.",
    "A first look at the numbers, and at what they leave out.",
]
LEDES = [
    "The news came on {weekday}: {subject_lc} {predicate}.",
    "It is now official: {subject_lc} {predicate}.",
    "{subject} {predicate}, and {who} in {place} are already asking what it "
    "means for them.",
]
SENTENCES = [
    "For {who} in {place}, the change is more than a line in a report.",
    "The idea has been discussed since {year}, but earlier versions stalled over cost.",
    "Officials put the cost of the first phase at about ${n} million, spread "
    "over three years.",
    'A similar effort two cities over produced <a href="https://example.org/'
    'reports/{ref}">mixed results</a>, according to a review published last '
    "year.",
    "Critics point to a <strong>gap of about {pct} percent</strong> between "
    "the projected costs and the money set aside.",
    "Not everyone is convinced.",
    "The details will be published in full <em>before</em> any final "
    "decision, officials said.",
    "About {k} people came to the last public meeting on the subject, most "
    "of them from {place}.",
    "The figures have moved since the spring, when a first estimate was "
    '<a href="https://example.org/data/{ref}">shared online</a>.',
    "Supporters say the timing is right; opponents say the questions raised "
    "in {year} were never answered.",
    "{person}, {role}, said the change had been a long time coming.",
    "{who_cap} were asked for their views in a survey this {season}.",
    "The schedule leaves little room for delay: the first milestone falls in {month}.",
    "A spokesperson declined to give a date but said the work was <em>on track</em>.",
    "Some of the money would come from a state grant, the rest from the "
    "existing budget.",
    "The last comparable change in {place} was in {year}, and it took "
    "<strong>{years} months</strong> to settle in.",
]
QUOTES = [
    "“We did not get everything we asked for, but this is a real start,” "
    "said {person}, {role}.",
    "“People here have waited long enough for an answer,” said {person}, {role}.",
    "“The question is not whether to act, it is how fast,” {person}, {role}, "
    "said in an interview.",
    "“If it works, other places will copy it within a year,” said {person}, {role}.",
    "“We will be watching every step of the way,” said {person}, {role}.",
    "“I would like to see the numbers before I celebrate,” said {person}, {role}.",
]
PULL_QUOTES = [
    "This is the kind of decision that shapes a neighborhood for a generation.",
    "Nobody I talk to is against the idea. They are worried about the details.",
    "Small changes, done well, add up faster than people expect.",
    "We owe people a clear answer, and a date.",
]
HEADINGS = [
    "What happens next",
    "Why it matters",
    "The numbers",
    "What people are saying",
    "How we got here",
    "What to watch",
]
NEXT_STEPS = [
    "A public hearing in {month}",
    "A final vote before the end of the year",
    "Progress reports published online every quarter",
    "An independent review after twelve months",
    "A decision on funding by {month}",
]
HOW_IT_WORKS = [
    "Applications open in {month}.",
    "Each request is reviewed within {days} days.",
    "Decisions are published online.",
    "Appeals go to an independent panel.",
]
CLOSINGS = [
    "The next update is expected in {month}.",
    "Questions about this story? Write to "
    '<a href="mailto:tips@example.org">tips@example.org</a>.',
    'Read <a href="https://example.org/background/{ref}">the background to '
    "this story</a>.",
]
CORRECTIONS = [
    ("correction", "An earlier version of this story gave the wrong date for "
     "the public hearing. It is in {month}."),
    ("correction", "An earlier version of this story misspelled the name of "
     "{person}."),
    ("update", "This story has been updated with a response from {role_lc}."),
    ("update", "This story has been updated with the result of the vote."),
    ("clarification", "This story has been changed to make clear that the "
     "cost estimate covers the first phase only."),
    ("clarification", "An earlier version of this story could have been read "
     "to suggest that the plan was final. It still needs a vote."),
]  # fmt: skip

# -- Pictures -----------------------------------------------------------------

COLORS = {
    "red": (200, 62, 56),
    "orange": (232, 135, 48),
    "amber": (240, 180, 60),
    "yellow": (245, 215, 90),
    "green": (72, 150, 90),
    "olive": (128, 140, 60),
    "teal": (40, 140, 140),
    "blue": (52, 104, 176),
    "navy": (30, 45, 90),
    "purple": (110, 70, 150),
    "pink": (220, 120, 150),
    "grey": (120, 125, 130),
}
SKIES = {
    "dawn": ((250, 190, 130), (252, 232, 205)),
    "midday": ((105, 165, 230), (215, 232, 250)),
    "dusk": ((62, 52, 112), (240, 140, 100)),
    "night": ((14, 20, 46), (52, 62, 104)),
}


def _shade(rgb, factor):
    """``rgb`` darkened (factor < 1) or lightened towards white (factor > 1)."""
    if factor <= 1:
        return tuple(round(c * factor) for c in rgb)
    return tuple(round(c + (255 - c) * (factor - 1)) for c in rgb)


def _gradient(size, top, bottom):
    return ImageOps.colorize(
        Image.linear_gradient("L").resize(size), black=top, white=bottom
    )


def _color(rng, exclude=()):
    name = rng.choice([name for name in COLORS if name not in exclude])
    return name, COLORS[name]


def _draw_hills(rng, size):
    w, h = size
    sky = rng.choice(list(SKIES))
    image = _gradient(size, *SKIES[sky])
    draw = ImageDraw.Draw(image)
    sun_name, sun = _color(rng)
    sx, sy, r = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.35) * h, 90
    draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=sun)
    hill_name, hill = _color(rng, exclude={sun_name})
    layers = rng.randint(2, 4)
    for i in range(layers):
        base = h * (0.5 + 0.13 * i)
        amp, freq = rng.uniform(25, 80), rng.uniform(1.5, 3.5) * 2 * math.pi / w
        phase = rng.uniform(0, 2 * math.pi)
        points = [
            (x, base + amp * math.sin(x * freq + phase)) for x in range(0, w + 40, 40)
        ]
        # Farther hills are paler, as in haze.
        draw.polygon([*points, (w, h), (0, h)], fill=_shade(hill, 1.45 - 0.22 * i))
    alt = (
        f"Illustration of a {sun_name} sun over {layers} rows of {hill_name} "
        f"hills at {sky}"
    )
    return image, alt, (sx / w, sy / h)


def _draw_skyline(rng, size):
    w, h = size
    sky = rng.choice(list(SKIES))
    image = _gradient(size, *SKIES[sky])
    draw = ImageDraw.Draw(image)
    name, color = _color(rng)
    lit = (250, 225, 120) if sky in {"dusk", "night"} else _shade(color, 1.5)
    x, towers, tallest = 0, 0, (0, h)
    while x < w:
        bw, bh = rng.randint(90, 220), rng.randint(int(h * 0.25), int(h * 0.75))
        top = h - bh
        draw.rectangle((x, top, x + bw, h), fill=_shade(color, rng.uniform(0.55, 1.0)))
        for wy in range(top + 20, h - 30, 38):
            for wx in range(x + 14, x + bw - 24, 30):
                if rng.random() < 0.55:
                    draw.rectangle((wx, wy, wx + 12, wy + 18), fill=lit)
        if top < tallest[1]:
            tallest = (x + bw / 2, top)
        x += bw + rng.randint(0, 12)
        towers += 1
    alt = f"Illustration of a city skyline of {towers} {name} towers at {sky}"
    return image, alt, (tallest[0] / w, min(1.0, tallest[1] / h + 0.1))


def _draw_sea(rng, size):
    w, h = size
    horizon = int(h * rng.uniform(0.45, 0.6))
    sky = rng.choice(list(SKIES))
    sea_name, sea = _color(rng, exclude={"red", "orange", "pink", "yellow", "amber"})
    image = Image.new("RGB", size)
    image.paste(_gradient((w, horizon), *SKIES[sky]), (0, 0))
    image.paste(_gradient((w, h - horizon), sea, _shade(sea, 0.5)), (0, horizon))
    draw = ImageDraw.Draw(image)
    for y in range(horizon + 30, h, 45):
        offset = rng.randint(0, 80)
        for x in range(-offset, w, 160):
            draw.arc((x, y, x + 80, y + 24), 200, 340, fill=_shade(sea, 1.4), width=4)
    sail_name, sail = _color(rng, exclude={sea_name})
    bx, by = (
        rng.uniform(0.25, 0.75) * w,
        horizon + rng.uniform(0.2, 0.45) * (h - horizon),
    )
    draw.polygon(
        [(bx - 150, by), (bx + 150, by), (bx + 105, by + 55), (bx - 105, by + 55)],
        fill=(60, 40, 30),
    )
    draw.polygon(
        [(bx - 5, by - 10), (bx - 5, by - 300), (bx - 140, by - 10)], fill=sail
    )
    draw.polygon(
        [(bx + 5, by - 10), (bx + 5, by - 240), (bx + 110, by - 10)],
        fill=_shade(sail, 1.3),
    )
    alt = (
        f"Illustration of a sailboat with a {sail_name} sail on a {sea_name} "
        f"sea at {sky}"
    )
    return image, alt, (bx / w, (by - 120) / h)


def _draw_abstract(rng, size):
    w, h = size
    bg_name, bg = _color(rng)
    image = Image.new("RGBA", size, _shade(bg, 1.6) + (255,))
    first = _color(rng, exclude={bg_name})
    second = _color(rng, exclude={bg_name, first[0]})
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(rng.randint(3, 6)):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(80, 320)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=first[1] + (170,))
    for _ in range(rng.randint(2, 4)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        draw.rectangle(
            (x, y, x + rng.uniform(200, 700), y + rng.uniform(40, 120)),
            fill=second[1] + (160,),
        )
    image = Image.alpha_composite(image, overlay).convert("RGB")
    alt = (
        f"Abstract illustration of {first[0]} circles and {second[0]} bars on "
        f"a pale {bg_name} background"
    )
    return image, alt, (0.5, 0.5)


def _draw_fields(rng, size):
    w, h = size
    horizon = int(h * rng.uniform(0.35, 0.5))
    sky = rng.choice(["dawn", "midday", "dusk"])
    image = _gradient(size, *SKIES[sky])
    draw = ImageDraw.Draw(image)
    a_name, a = _color(rng)
    b_name, b = _color(rng, exclude={a_name})
    vanish = rng.uniform(0.3, 0.7) * w
    stripes = rng.randint(8, 14)
    step = 3 * w / stripes
    for i in range(stripes):
        x0, x1 = -w + i * step, -w + (i + 1) * step
        draw.polygon([(vanish, horizon), (x0, h), (x1, h)], fill=a if i % 2 else b)
    tx, ty = rng.uniform(0.1, 0.9) * w, horizon + 10
    draw.rectangle((tx - 10, ty - 110, tx + 10, ty), fill=(80, 55, 35))
    draw.ellipse((tx - 80, ty - 250, tx + 80, ty - 90), fill=(40, 95, 50))
    alt = (
        f"Illustration of {a_name} and {b_name} striped fields under a {sky} "
        "sky, with a lone tree"
    )
    return image, alt, (tx / w, (ty - 150) / h)


SCENES = [_draw_hills, _draw_skyline, _draw_sea, _draw_abstract, _draw_fields]


def _draw_portrait(rng, name, size=PORTRAIT_SIZE):
    w, h = size
    color_name, color = _color(rng, exclude={"yellow", "amber"})
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 6)):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(30, 140)
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=_shade(color, rng.choice([0.8, 1.2]))
        )
    draw.ellipse((90, 90, w - 90, h - 90), fill=_shade(color, 0.65))
    initials = "".join(part[0] for part in name.split()[:2]).upper()
    # Pillow's bundled font: the same on every machine, no system fonts needed.
    font = ImageFont.load_default(size=200)
    draw.text((w / 2, h / 2), initials, font=font, fill=(255, 255, 255), anchor="mm")
    alt = (
        f"Illustrated portrait card for {name}: the initials {initials} on {color_name}"
    )
    return image, alt


def _jpeg(image):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


# -- The command --------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Build a demo newsroom (sections, authors, photos and 120 stories). "
        "Does nothing when the demo is already there; --reset rebuilds it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo's authors, their stories, and the photos and "
            "sections no one else uses, then build the demo again.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Say what would be done without changing anything.",
        )

    def handle(self, *args, reset=False, dry_run=False, verbosity=1, **options):
        self.verbosity = verbosity
        started = time.monotonic()
        demo_authors = Author.objects.filter(email__iendswith="@" + DEMO_EMAIL_DOMAIN)
        present = demo_authors.exists()
        if present and not reset:
            stories = self._demo_articles().count()
            self._say(
                f"The demo newsroom is already there ({demo_authors.count()} "
                f"authors, {stories} stories); nothing to do. Use --reset to "
                "rebuild it.",
                self.style.SUCCESS,
            )
            return
        if dry_run:
            if present:
                self._say(
                    f"Would delete {self._demo_articles().count()} demo stories "
                    f"and {demo_authors.count()} demo authors, then rebuild."
                )
            else:
                self._say(f"Would build the demo newsroom ({STORY_COUNT} stories).")
            return

        self.created_photos = []
        try:
            with transaction.atomic():
                if present:
                    self._delete_demo()
                summary = self._build()
        except BaseException:
            # The rows are rolled back; the image files written meanwhile
            # would otherwise stay in storage with nothing pointing at them.
            self._delete_files(self.created_photos)
            raise
        self._say(
            f"Demo newsroom ready: {summary} in {time.monotonic() - started:.1f} s.",
            self.style.SUCCESS,
        )

    # -- Output ---------------------------------------------------------------

    def _say(self, message, style=None):
        if self.verbosity >= 1:
            self.stdout.write(style(message) if style else message)

    def _progress(self, label, done, total):
        """One line per step that rewrites itself on a terminal.

        Piped or captured output gets only the finished line, so logs stay
        short.
        """
        if self.verbosity < 1:
            return
        if self.stdout.isatty():
            self.stdout.write(f"\r{label} {done}/{total}", ending="")
            if done == total:
                self.stdout.write("")
            self.stdout.flush()
        elif done == total:
            self.stdout.write(f"{label} {done}/{total}")

    # -- Deleting -------------------------------------------------------------

    def _demo_articles(self):
        return Article.objects.filter(
            pk__in=Byline.objects.filter(
                author__email__iendswith="@" + DEMO_EMAIL_DOMAIN
            ).values("article")
        )

    def _delete_demo(self):
        """Delete demo content in the order the PROTECT foreign keys allow."""
        authors = Author.objects.filter(email__iendswith="@" + DEMO_EMAIL_DOMAIN)
        articles = self._demo_articles()
        photo_ids = {
            *articles.values_list("lead_photo", flat=True),
            *authors.values_list("photo", flat=True),
        } - {None}
        deleted_articles = articles.delete()[1].get(Article._meta.label, 0)
        deleted_authors = authors.delete()[1].get(Author._meta.label, 0)
        # A photo someone reused in their own story or author page stays.
        photos = Photo.objects.filter(pk__in=photo_ids).exclude(
            pk__in=Article.objects.filter(lead_photo__isnull=False).values("lead_photo")
        )
        photos = list(
            photos.exclude(
                pk__in=Author.objects.filter(photo__isnull=False).values("photo")
            )
        )
        Photo.objects.filter(pk__in=[photo.pk for photo in photos]).delete()
        transaction.on_commit(lambda: self._delete_files(photos))
        Section.objects.filter(
            slug__in=[section["slug"] for section in SECTIONS], articles__isnull=True
        ).delete()
        Tag.objects.filter(
            name__in=self._tag_pool(), taggit_taggeditem_items__isnull=True
        ).delete()
        self._say(
            f"Deleted {deleted_articles} stories, {deleted_authors} authors and "
            f"{len(photos)} photos of the previous demo."
        )

    def _delete_files(self, photos):
        for photo in photos:
            storage = photo.image.storage
            names = [photo.image.name] + [
                rendition.get("name")
                for rendition in photo.renditions
                if isinstance(rendition, dict)
            ]
            for name in filter(None, names):
                storage.delete(name)

    # -- Building -------------------------------------------------------------

    def _tag_pool(self):
        return sorted(
            {tag for section in SECTIONS for tag in section["tags"]} | set(GENERAL_TAGS)
        )

    def _photo(self, image, alt, *, focal=(0.5, 0.5), caption="", credit=""):
        from articles.images import create_photo

        photo = create_photo(
            image_file=ContentFile(_jpeg(image), name=f"{slugify(alt)[:60]}.jpg"),
            alt_text=alt,
            caption=caption,
            credit=credit,
            focal_x=round(min(max(focal[0], 0.0), 1.0), 3),
            focal_y=round(min(max(focal[1], 0.0), 1.0), 3),
        )
        self.created_photos.append(photo)
        return photo

    def _build(self):
        rng = random.Random(SEED)  # noqa: S311 - demo content, not security
        now = timezone.now()
        sections = self._build_sections()
        authors = self._build_authors(rng)
        photos = self._build_photos(rng)
        stories = self._plan_stories(rng, now, sections, authors, photos)
        articles = self._build_stories(stories)
        related = self._build_related(rng, stories, articles)
        counts = {
            status: sum(1 for story in stories if story["kind"] == status)
            for status in ("published", "scheduled", "in_review", "draft")
        }
        return (
            f"{len(sections)} sections, {len(authors)} authors, "
            f"{len(photos) + len(authors)} photos, {len(articles)} stories "
            f"({counts['published']} published, {counts['scheduled']} scheduled, "
            f"{counts['in_review']} in review, {counts['draft']} drafts; "
            f"{sum(story['featured'] for story in stories)} featured, "
            f"{sum(bool(story['correction']) for story in stories)} corrected, "
            f"{related} with related stories)"
        )

    def _build_sections(self):
        sections = {}
        for position, data in enumerate(SECTIONS, start=1):
            # A section the newsroom made itself under the same name is used
            # as it is, not renamed or re-described.
            section = Section.objects.filter(
                Q(slug=data["slug"]) | Q(name=data["name"])
            ).first()
            if section is None:
                section = Section.objects.create(
                    name=data["name"],
                    slug=data["slug"],
                    description=data["description"],
                    position=position * 10,
                )
            sections[data["slug"]] = section
            self._progress("Sections", position, len(SECTIONS))
        return sections

    def _build_authors(self, rng):
        users = {
            user.username: user
            for user in get_user_model().objects.filter(
                username__in=AUTHOR_USERS, author__isnull=True
            )
        }
        linked = {name: users.get(username) for username, name in AUTHOR_USERS.items()}
        authors = {}
        for done, (name, job_title, bio, _beat) in enumerate(AUTHORS, start=1):
            image, alt = _draw_portrait(rng, name)
            slug = base = slugify(name)
            suffix = 1
            while Author.objects.filter(slug=slug).exists():
                suffix += 1
                slug = f"{base}-{suffix}"
            author = Author.objects.create(
                name=name,
                slug=slug,
                job_title=job_title,
                bio=bio,
                photo=self._photo(image, alt, credit="Newsroom demo"),
                email=f"{slug}@{DEMO_EMAIL_DOMAIN}",
                user=linked.get(name),
            )
            authors[name] = author
            self._progress("Authors", done, len(AUTHORS))
        return authors

    def _build_photos(self, rng):
        photos = []
        for done in range(1, PHOTO_COUNT + 1):
            scene = SCENES[(done - 1) % len(SCENES)]
            image, alt, focal = scene(rng, PHOTO_SIZE)
            place = rng.choice(PLACES)
            # Not a repeat of the alt text: screen readers read both.
            caption = f"{place[0].upper()}{place[1:]}, as drawn for the demo newsroom."
            photos.append(
                self._photo(
                    image,
                    alt,
                    focal=focal,
                    caption=caption,
                    credit=f"{PHOTOGRAPHER}/Newsroom",
                )
            )
            self._progress("Photos", done, PHOTO_COUNT)
        return photos

    def _plan_stories(self, rng, now, sections, authors, photos):
        """Decide every story in memory first, so the writes are plain."""
        kinds = (
            ["draft"] * DRAFT_COUNT
            + ["in_review"] * IN_REVIEW_COUNT
            + ["scheduled"] * SCHEDULED_COUNT
        )
        kinds += ["published"] * (STORY_COUNT - len(kinds))
        rng.shuffle(kinds)
        # Every photo is used at least once, so --reset finds them all.
        photo_order = [photos[i % len(photos)] for i in range(STORY_COUNT)]
        rng.shuffle(photo_order)
        by_beat = {}
        for name, _job_title, _bio, beat in AUTHORS:
            by_beat.setdefault(beat, []).append(authors[name])
        staff = list(authors.values())
        headlines, used_slugs = set(), set()
        stories = []
        for index, kind in enumerate(kinds):
            data = SECTIONS[index % len(SECTIONS)]
            headline, ctx = self._headline(rng, data, headlines)
            if kind == "published":
                publish_at = now - timedelta(minutes=rng.randint(20, DAYS_BACK * 1440))
            elif kind == "scheduled":
                publish_at = now + timedelta(minutes=rng.randint(6 * 60, 5 * 1440))
            else:
                publish_at = None
            if publish_at:
                publish_at = publish_at.replace(second=0, microsecond=0)
            url_date = timezone.localdate(publish_at) if publish_at else None
            slug = self._unique_slug(headline, url_date, used_slugs)
            # Link targets in the body: short, whole words.
            ctx["ref"] = slug if len(slug) <= 40 else slug[:41].rsplit("-", 1)[0]
            stories.append(
                {
                    "kind": kind,
                    "section": sections[data["slug"]],
                    "headline": headline,
                    "slug": slug,
                    "dek": self._dek(rng, ctx),
                    "body": self._body(rng, data, ctx),
                    "publish_at": publish_at,
                    "photo": photo_order[index],
                    "bylines": self._bylines(rng, by_beat[data["slug"]], staff),
                    "tags": self._tags(rng, data),
                    "featured": False,
                    "correction": None,
                    "ctx": ctx,
                }
            )
        live = sorted(
            (story for story in stories if story["kind"] == "published"),
            key=lambda story: story["publish_at"],
            reverse=True,
        )
        for story in rng.sample(live[: FEATURED_COUNT + 5], FEATURED_COUNT):
            story["featured"] = True
        older = [
            story for story in live if now - story["publish_at"] > timedelta(days=1)
        ]
        for story in rng.sample(older, CORRECTED_COUNT):
            kind, text = rng.choice(CORRECTIONS)
            ctx = story["ctx"]
            elapsed = now - story["publish_at"]
            # Corrections come soon after publication, and never in the future.
            date = story["publish_at"] + min(
                elapsed * rng.uniform(0.05, 0.5), timedelta(days=rng.randint(1, 4))
            )
            story["correction"] = {
                "kind": kind,
                "text": text.format(**ctx, role_lc=ctx["role"]),
                "date": date.replace(microsecond=0),
            }
        return stories

    def _headline(self, rng, data, seen):
        for _ in range(50):
            subject = rng.choice(data["subjects"])
            predicate = rng.choice(data["predicates"])
            subject_lc = subject
            if subject.split()[0] in {"The", "A", "An"}:
                subject_lc = subject[0].lower() + subject[1:]
            form = rng.random()
            if form < 0.5:
                headline = f"{subject} {predicate}"
            elif form < 0.8:
                headline = f"{subject} {predicate} {rng.choice(TRIGGERS)}"
            else:
                headline = f"{rng.choice(['Why', 'How'])} {subject_lc} {predicate}"
            if headline not in seen:
                break
        seen.add(headline)
        who = rng.choice(data["who"])
        ctx = {
            "subject": subject,
            "subject_lc": subject_lc,
            "predicate": predicate,
            "who": who,
            "who_cap": who[0].upper() + who[1:],
            "place": rng.choice(PLACES),
            "person": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "role": rng.choice(data["roles"]),
            "year": rng.randint(2012, 2023),
            "month": rng.choice(MONTHS),
            "weekday": rng.choice(WEEKDAYS),
            "season": rng.choice(["spring", "summer", "autumn", "winter"]),
            "n": rng.randint(2, 40),
            "pct": rng.randint(5, 30),
            "k": rng.randint(40, 400),
            "years": rng.randint(10, 40),
            "days": rng.choice([10, 14, 21, 30]),
        }
        return headline, ctx

    def _unique_slug(self, headline, url_date, used):
        base = slugify(headline)[:190]
        slug, suffix = base, 1
        # Unique within the demo and against stories already on that date.
        while (url_date, slug) in used or (
            url_date and Article.objects.filter(url_date=url_date, slug=slug).exists()
        ):
            suffix += 1
            slug = f"{base}-{suffix}"
        used.add((url_date, slug))
        return slug

    def _dek(self, rng, ctx):
        count = rng.choice([1, 1, 2])
        return " ".join(line.format(**ctx) for line in rng.sample(DEKS, count))

    def _body(self, rng, data, ctx):
        def paragraph(count):
            return (
                "<p>"
                + " ".join(s.format(**ctx) for s in rng.sample(SENTENCES, count))
                + "</p>"
            )

        other = {
            **ctx,
            "person": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "role": rng.choice(data["roles"]),
        }
        parts = [
            f"<p>{rng.choice(LEDES).format(**ctx)}</p>",
            paragraph(rng.randint(2, 3)),
        ]
        headings = rng.sample(HEADINGS, 2)
        if rng.random() < 0.6:
            parts.append(f"<h2>{headings[0]}</h2>")
        parts.append(f"<p>{rng.choice(QUOTES).format(**other)}</p>")
        if rng.random() < 0.4:
            parts.append(
                f"<blockquote><p>“{rng.choice(PULL_QUOTES)}”</p>"
                f"<p>— {other['person']}, {other['role']}</p></blockquote>"
            )
        parts.append(paragraph(rng.randint(2, 4)))
        layout = rng.random()
        if layout < 0.35:
            items = rng.sample(NEXT_STEPS, rng.randint(3, 4))
            parts.append(f"<h2>{headings[1]}</h2>")
            parts.append(
                "<ul>" + "".join(f"<li>{i.format(**ctx)}</li>" for i in items) + "</ul>"
            )
        elif layout < 0.55:
            parts.append("<h2>How it works</h2>")
            parts.append(
                "<ol>"
                + "".join(f"<li>{i.format(**ctx)}</li>" for i in HOW_IT_WORKS)
                + "</ol>"
            )
        else:
            parts.append(paragraph(2))
        parts.append(f"<p>{rng.choice(CLOSINGS).format(**ctx)}</p>")
        return "\n".join(parts)

    def _bylines(self, rng, beat, staff):
        count = rng.choices([1, 2, 3], weights=[55, 35, 10])[0]
        first = rng.choice(beat)
        chosen = [(first, Byline.Role.AUTHOR)]
        others = [author for author in staff if author is not first]
        for author in rng.sample(others, count - 1):
            if author.name == PHOTOGRAPHER:
                role = Byline.Role.PHOTOGRAPHER
            else:
                role = rng.choices(
                    [Byline.Role.AUTHOR, Byline.Role.CONTRIBUTOR], weights=[75, 25]
                )[0]
            chosen.append((author, role))
        return chosen

    def _tags(self, rng, data):
        tags = rng.sample(data["tags"], rng.randint(2, 4))
        if rng.random() < 0.5:
            tags.append(rng.choice(GENERAL_TAGS))
        return tags

    def _build_stories(self, stories):
        articles = []
        for done, story in enumerate(stories, start=1):
            correction = story["correction"]
            article = Article(
                headline=story["headline"],
                slug=story["slug"],
                dek=story["dek"],
                body=story["body"],
                section=story["section"],
                lead_photo=story["photo"],
                status=(
                    Article.Status.PUBLISHED
                    if story["kind"] in {"published", "scheduled"}
                    else story["kind"]
                ),
                publish_at=story["publish_at"],
                is_featured=story["featured"],
                # A correction is what bumps the readers' "Updated" time.
                updated_at=correction["date"] if correction else None,
            )
            article.save()
            Byline.objects.bulk_create(
                Byline(article=article, author=author, position=position, role=role)
                for position, (author, role) in enumerate(story["bylines"])
            )
            article.tags.add(*story["tags"])
            if correction:
                Correction.objects.create(article=article, **correction)
            articles.append(article)
            self._progress("Stories", done, len(stories))
        return articles

    def _build_related(self, rng, stories, articles):
        live = [
            (story, article)
            for story, article in zip(stories, articles, strict=True)
            if story["kind"] == "published"
        ]
        picked = rng.sample(live, WITH_RELATED_COUNT)
        for done, (story, article) in enumerate(picked, start=1):
            same_section = [
                other
                for other_story, other in live
                if other_story["section"] == story["section"] and other is not article
            ]
            article.related.set(rng.sample(same_section, rng.randint(2, 3)))
            self._progress("Related stories", done, WITH_RELATED_COUNT)
        return WITH_RELATED_COUNT

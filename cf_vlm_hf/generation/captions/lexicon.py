"""The built-in lexicon of the rules editor: which words it can change, and into what.

Each table maps a lower-case word or phrase to its replacements, in order of preference. The editor offers every
replacement as a candidate; a row's seed picks among them. Extend a table (or pass your own to `RulesEditor`) to
cover another vocabulary.
"""

from __future__ import annotations

COLORS = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "grey",
    "silver", "gold",
)
# Contrasting colours first: red -> blue is a clearer counterfactual than red -> pink.
COLOR_ALTERNATIVES = {
    "red": ("blue", "green", "yellow", "black", "white"),
    "orange": ("blue", "purple", "green", "black"),
    "yellow": ("purple", "blue", "red", "black"),
    "green": ("red", "purple", "yellow", "white"),
    "blue": ("red", "yellow", "orange", "green"),
    "purple": ("yellow", "green", "orange", "white"),
    "pink": ("green", "black", "blue", "yellow"),
    "brown": ("white", "black", "gray", "blue"),
    "black": ("white", "red", "yellow", "blue"),
    "white": ("black", "red", "blue", "brown"),
    "gray": ("yellow", "red", "white", "black"),
    "grey": ("yellow", "red", "white", "black"),
    "silver": ("gold", "black", "red"),
    "gold": ("silver", "black", "blue"),
}

NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

# Objects that can stand in for each other in a scene: an object edit stays within its group.
OBJECT_GROUPS = {
    "animal": ("dog", "cat", "horse", "cow", "sheep", "bird", "elephant", "bear", "zebra", "giraffe", "duck",
               "goat", "rabbit", "pig", "lion", "tiger", "deer", "fox", "monkey", "squirrel"),
    "person": ("man", "woman", "boy", "girl", "child", "person", "baby", "lady", "guy"),
    "vehicle": ("car", "bus", "truck", "bicycle", "bike", "motorcycle", "train", "boat", "airplane", "plane",
                "scooter", "van", "tractor", "taxi"),
    "food": ("pizza", "sandwich", "cake", "apple", "banana", "donut", "hot dog", "burger", "salad", "bowl of soup",
             "carrot", "broccoli", "cookie", "pie"),
    "furniture": ("chair", "couch", "sofa", "bed", "table", "bench", "desk", "stool"),
    "container": ("cup", "mug", "bottle", "glass", "vase", "bowl", "jar", "basket", "box", "bag", "suitcase"),
    "device": ("laptop", "phone", "cell phone", "television", "tv", "keyboard", "remote", "camera", "clock",
               "computer", "monitor"),
    "sports item": ("ball", "frisbee", "kite", "surfboard", "skateboard", "racket", "bat", "skis", "snowboard"),
    "plant": ("tree", "flower", "plant", "bush", "cactus", "palm tree"),
    "building": ("house", "building", "church", "tower", "barn", "castle", "bridge"),
    "clothing": ("hat", "shirt", "jacket", "tie", "dress", "scarf", "cap", "helmet", "umbrella", "backpack"),
}
IRREGULAR_PLURALS = {
    "man": "men", "woman": "women", "child": "children", "person": "people", "mouse": "mice", "sheep": "sheep",
    "deer": "deer", "fish": "fish", "goose": "geese", "foot": "feet", "tooth": "teeth", "knife": "knives",
    "leaf": "leaves", "wolf": "wolves", "shelf": "shelves", "skis": "skis", "bus": "buses", "glass": "glasses",
    "box": "boxes", "bench": "benches", "sandwich": "sandwiches", "lady": "ladies", "baby": "babies",
    "cactus": "cacti", "bowl of soup": "bowls of soup", "couch": "couches", "dress": "dresses", "tv": "tvs",
    "taxi": "taxis", "pony": "ponies", "puppy": "puppies", "strawberry": "strawberries", "cherry": "cherries",
    "peach": "peaches", "watch": "watches", "brush": "brushes", "church": "churches",
}

# Spatial relations and their opposites (longest phrases are matched first).
RELATIONS = {
    "to the left of": ("to the right of",), "to the right of": ("to the left of",),
    "on the left of": ("on the right of",), "on the right of": ("on the left of",),
    "on the left side of": ("on the right side of",), "on the right side of": ("on the left side of",),
    "left of": ("right of",), "right of": ("left of",),
    "in front of": ("behind",), "behind": ("in front of",),
    "on top of": ("underneath",), "underneath": ("on top of",),
    "above": ("below",), "below": ("above",), "beneath": ("above",),
    "under": ("on",), "over": ("under",),
    "inside": ("outside",), "outside": ("inside",), "inside of": ("outside of",), "outside of": ("inside of",),
    "near": ("far from",), "next to": ("far from",), "far from": ("next to",),
    "on": ("under",), "into": ("out of",), "out of": ("into",),
    "on the left": ("on the right",), "on the right": ("on the left",),
    "toward": ("away from",), "towards": ("away from",), "away from": ("toward",),
}

# Actions (present participles) and a contrasting action that a picture can show.
ACTIONS = {
    "sitting": ("standing", "lying"), "standing": ("sitting", "lying"), "lying": ("standing", "sitting"),
    "laying": ("standing", "sitting"), "walking": ("running", "standing"), "running": ("walking", "standing"),
    "opening": ("closing",), "closing": ("opening",), "pushing": ("pulling",), "pulling": ("pushing",),
    "throwing": ("catching",), "catching": ("throwing",), "giving": ("taking",), "taking": ("giving",),
    "entering": ("leaving",), "leaving": ("entering",), "smiling": ("frowning", "crying"),
    "frowning": ("smiling",), "laughing": ("crying",), "crying": ("laughing",), "climbing": ("descending",),
    "arriving": ("departing",), "departing": ("arriving",), "buying": ("selling",), "selling": ("buying",),
    "eating": ("drinking",), "drinking": ("eating",), "sleeping": ("eating", "playing"), "flying": ("landing",),
    "landing": ("taking off",), "riding": ("pushing",), "holding": ("dropping",), "dropping": ("holding",),
    "swimming": ("floating",), "jumping": ("sitting",), "reading": ("writing",), "writing": ("reading",),
    "playing": ("resting",), "talking": ("listening",), "listening": ("talking",), "looking": ("pointing",),
    "kicking": ("catching",), "hitting": ("missing",), "wearing": ("holding",), "carrying": ("dropping",),
    "driving": ("parking",), "parked": ("driving",), "cutting": ("holding",), "waving": ("clapping",),
    "surfing": ("swimming",), "skiing": ("walking",), "skateboarding": ("walking",), "grazing": ("sleeping",),
}

# States and their opposites (attribute edits); sizes have their own table.
STATES = {
    "open": ("closed",), "closed": ("open",), "empty": ("full",), "full": ("empty",), "wet": ("dry",),
    "dry": ("wet",), "clean": ("dirty",), "dirty": ("clean",), "old": ("new",), "new": ("old",),
    "young": ("old",), "happy": ("sad",), "sad": ("happy",), "hot": ("cold",), "cold": ("hot",),
    "asleep": ("awake",), "awake": ("asleep",), "lit": ("unlit",), "broken": ("intact",), "sunny": ("cloudy",),
    "cloudy": ("sunny",), "wooden": ("metal",), "metal": ("wooden",), "plastic": ("glass",), "striped": ("plain",),
    "dark": ("bright",), "bright": ("dark",), "crowded": ("empty",), "busy": ("quiet",), "sliced": ("whole",),
    "whole": ("sliced",), "cooked": ("raw",), "raw": ("cooked",), "dead": ("alive",), "alive": ("dead",),
    "fresh": ("rotten",), "ripe": ("unripe",), "snowy": ("grassy",), "grassy": ("snowy",), "calm": ("stormy",),
}

SIZES = {
    "small": ("large",), "large": ("small",), "big": ("small",), "little": ("big",), "tiny": ("huge",),
    "huge": ("tiny",), "giant": ("tiny",), "tall": ("short",), "short": ("tall",), "long": ("short",),
    "wide": ("narrow",), "narrow": ("wide",), "thick": ("thin",), "thin": ("thick",), "fat": ("thin",),
}

COPULAS = ("is", "are", "was", "were", "has", "have")
COPULA_NUMBER = {"is": "are", "are": "is", "was": "were", "were": "was", "has": "have", "have": "has"}
NEGATION_SWAPS = {"with": "without", "without": "with"}

# Words that end in -ing but are not actions (a negation is never put before them).
NOT_ACTIONS = frozenset({
    "building", "ceiling", "morning", "evening", "clothing", "wedding", "king", "ring", "thing", "something",
    "nothing", "anything", "everything", "string", "spring", "painting", "parking", "sibling", "bedding",
    "pudding", "icing", "railing", "awning", "sing", "wing", "swing", "sling", "fling", "ping", "bring", "living",
    "dining", "frosting", "topping", "stuffing", "sterling", "duckling", "lightning", "seating",
})
# Function words: never a noun of a target phrase.
FUNCTION_WORDS = frozenset(
    "a an the and or of in on at to with without by for from near next is are was were be been has have it its "
    "this that these those there their his her some many several very".split()
)

"""Built-in emergency and safeguarding phrases, used when the configuration gives none.

A phrase matches as whole words, ignoring case and spacing.  The list errs towards matching:
a false alarm costs an officer a minute; a missed gas leak or a threat of suicide costs far
more.  Organisations replace it with ``[emergency] phrases``.
"""

DEFAULT_EMERGENCY_PHRASES: tuple[str, ...] = (
    # gas
    "smell gas",
    "smell of gas",
    "smelling gas",
    "gas leak",
    "leaking gas",
    # carbon monoxide
    "carbon monoxide",
    "CO alarm",
    # fire
    "on fire",
    "fire in",
    "house fire",
    "flat fire",
    "smoke alarm going off",
    # water
    "flood",
    "flooded",
    "flooding",
    "water pouring",
    "water coming through",
    "burst pipe",
    # no heating or hot water (the officer judges vulnerability)
    "no heating",
    "no heat",
    "no hot water",
    # electrical
    "electric shock",
    "sparking",
    "exposed wires",
    "burning smell",
    # sewage
    "sewage",
    "sewer overflow",
    # structural
    "ceiling collapsed",
    "ceiling has collapsed",
    "collapsing",
    "structural damage",
    # self-harm and suicide
    "suicide",
    "suicidal",
    "kill myself",
    "end my life",
    "self-harm",
    "self harm",
    "hurt myself",
    # abuse and people at risk
    "abuse",
    "abused",
    "domestic violence",
    "child at risk",
    "adult at risk",
    "in danger",
    "safeguarding",
)

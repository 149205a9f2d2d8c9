"""What staff and referrers write: synthetic names and free text (all of it invented)."""

from carepath.contracts.intake import ReferralReason
from carepath.contracts.integration import DiscontinuationReason

GIVEN_NAMES = (
    "Ada", "Amara", "Ben", "Carmen", "Dev", "Elif", "Farah", "Gabriel", "Hana", "Ines", "Jonas",
    "Kai", "Leila", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Samir", "Tomas", "Uma",
    "Viktor", "Wen", "Yara", "Zoe", "Malik", "Sofia", "Arjun", "Noor",
)  # fmt: skip
FAMILY_NAMES = (
    "Adeyemi", "Bergstrom", "Castillo", "Dubois", "Eriksen", "Fitzgerald", "Garcia", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quintero", "Rossi", "Sato", "Tanaka", "Urquhart", "Varga", "Walsh", "Yilmaz", "Zhang",
)  # fmt: skip
REFERRERS = (
    "Dr Lee, Harbour GP Practice",
    "Dr Amari, Eastside Clinic",
    "Dr Novak, Northgate Community Mental Health Team",
    "Dr Osei, St Mary's Pain Service",
    "Riverside Veterans' Trauma Service",
)
INTENTIONS = {
    ReferralReason.DEPRESSION: (
        "Feel something other than numbness",
        "Get back to work",
        "Reconnect with my children",
        "Stop ruminating at night",
    ),
    ReferralReason.PTSD: (
        "Feel safe in my own body",
        "Sleep without nightmares",
        "Look at what happened without being flooded",
    ),
    ReferralReason.ANXIETY: ("Quiet the constant worry", "Go to the supermarket on my own"),
    ReferralReason.CHRONIC_PAIN: ("Live alongside the pain", "Walk the dog again"),
}
PRACTICES = ("body scan", "box breathing", "loving-kindness meditation", "mindful walking")
THEMES = (
    "grief",
    "self-compassion",
    "relationship with father",
    "work stress",
    "connection",
    "body awareness",
    "fear of relapse",
    "meaning and purpose",
    "shame",
    "anger",
    "hope",
)
DISCONTINUATION_DETAILS = {
    DiscontinuationReason.PATIENT_CHOICE: "Patient chose to stop: travel for work, and unsure "
    "about the dissociative experience. Welcome to return.",
    DiscontinuationReason.LOST_TO_FOLLOW_UP: "Missed two booked sessions; no reply to three "
    "calls and a letter.",
    DiscontinuationReason.NON_RESPONSE: "No meaningful change in PHQ-9 after 4 sessions; "
    "discussed alternatives (ECT, rTMS referral).",
    DiscontinuationReason.ADVERSE_EVENT: "Severe hypertensive response during an infusion; "
    "risk outweighs benefit for further dosing.",
}

"""Realistic generated leads for the sandbox: hot ones that sales should call, cold ones that
should stay with marketing. Pure: the random generator is passed in."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

Temperature = Literal["hot", "cold"]

FIRST_NAMES = (
    "Lucía", "Mateo", "Sofia", "Jonas", "Amélie", "Liam", "Aisha", "Noah", "Elena", "Tomás",
    "Freya", "Ravi", "Chloé", "Oskar", "Priya", "Daniel", "Ingrid", "Marta", "Hugo", "Zara",
)  # fmt: skip
LAST_NAMES = (
    "Fernández", "Müller", "Dubois", "Rossi", "Johansson", "O'Brien", "Kowalski", "Silva",
    "Novak", "Bakker", "Schmidt", "Martin", "Costa", "Larsen", "Moreau", "Navarro",
)  # fmt: skip
# (company, web domain, industry, employees)
COMPANIES = (
    ("Northwind Logistics", "northwind-logistics.com", "Logistics", 850),
    ("Brightpath Health", "brightpath.health", "Healthcare", 1200),
    ("Helios Payments", "heliospay.io", "Fintech", 320),
    ("Vela Robotics", "velarobotics.de", "Manufacturing", 410),
    ("Lumen Analytics", "lumenanalytics.co.uk", "Software", 260),
    ("Atlas Retail Group", "atlasretail.eu", "Retail", 2300),
    ("Quanta Bank", "quantabank.es", "Banking", 4100),
    ("Orbital Media", "orbitalmedia.fr", "Media", 150),
)
HOT_TITLES = (
    "VP Sales", "Head of Revenue Operations", "Director of Marketing", "Chief Revenue Officer",
    "VP Growth", "Head of Sales EMEA", "CTO", "Founder & CEO",
)  # fmt: skip
# country -> telephone prefix
HOT_COUNTRIES = {"ES": "+34", "DE": "+49", "GB": "+44", "FR": "+33", "NL": "+31", "US": "+1"}
CAMPAIGNS = ("q3-pipeline", "webinar-revops", "g2-comparison", "pricing-retargeting")
COLD_PROFILES: tuple[tuple[str, str, str | None, int | None], ...] = (
    # (title, email domain, company, employees)
    ("Student", "gmail.com", "University of Leeds", None),
    ("Marketing intern", "outlook.com", "Freelance", 1),
    ("Job seeker", "yahoo.com", None, None),
    ("Student", "hotmail.com", None, None),
)
COLD_COUNTRIES = ("BR", "IN", "AU", "MX", "ZA")


@dataclass(frozen=True)
class SampleLead:
    """A lead body for POST /webhooks/leads and the events that follow it."""

    temperature: Temperature
    lead: dict[str, Any]
    events: tuple[dict[str, Any], ...]

    @property
    def summary(self) -> str:
        who = f"{self.lead.get('first_name', '')} {self.lead.get('last_name', '')}".strip()
        title = self.lead.get("title") or "no title"
        company = self.lead.get("company") or "no company"
        return f"{self.temperature} lead: {who}, {title} at {company} <{self.lead['email']}>"


def _email_local(first: str, last: str) -> str:
    keep = str.maketrans("áéíóúüñçè", "aeiouunce", "'& ")
    return f"{first}.{last}".lower().translate(keep)


def build_sample_lead(temperature: Temperature, rng: random.Random, serial: int) -> SampleLead:
    """``serial`` keeps the emails of leads generated in one run distinct."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{_email_local(first, last)}{serial}"
    if temperature == "hot":
        company, domain, industry, size = rng.choice(COMPANIES)
        country = rng.choice(sorted(HOT_COUNTRIES))
        phone = f"{HOT_COUNTRIES[country]} {rng.randrange(200, 999)} {rng.randrange(1000, 9999)}"
        lead: dict[str, Any] = {
            "email": f"{local}@{domain}",
            "first_name": first,
            "last_name": last,
            "title": rng.choice(HOT_TITLES),
            "company": company,
            "company_size": size,
            "industry": industry,
            "country": country,
            "phone": phone,
            "website": f"https://{domain}",
            "source": "demo-request",
            "utm": {"source": "google", "medium": "cpc", "campaign": rng.choice(CAMPAIGNS)},
        }
        events: tuple[dict[str, Any], ...] = (
            {"type": "page_view", "properties": {"url": "https://handoff.example/pricing"}},
            {"type": "form_submit", "properties": {"form": "Book a demo"}},
        )
        return SampleLead("hot", lead, events)
    title, mail_domain, school_or_firm, headcount = rng.choice(COLD_PROFILES)
    lead = {
        "email": f"{local}@{mail_domain}",
        "first_name": first,
        "last_name": last,
        "title": title,
        "country": rng.choice(COLD_COUNTRIES),
        "source": "ebook-download",
        "utm": {"source": "linkedin", "medium": "social", "campaign": "ebook-lead-scoring"},
    }
    if school_or_firm:
        lead["company"] = school_or_firm
    if headcount:
        lead["company_size"] = headcount
    return SampleLead("cold", lead, ({"type": "email_open", "properties": {}},))

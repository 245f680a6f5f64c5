"""Programmes that open the cloud to startups and small firms: catalogue, eligibility, enrolment, funding, expiry."""

"""Prices, monthly statements, budgets and their exports.

prices.py      the versioned price list (a YAML file, SAHAB_PRICE_LIST_PATH)
discounts.py   DiscountSource: programme discounts and credits, null by default
compute.py     a statement's lines from the usage samples (metering.reports' integration), exactly
statements.py  draft -> issued (numbered, gap-free per year) -> corrected (credit note + replacement)
budgets.py     monthly budgets: estimates, blocking increases, alerts at 80 % and 100 % by webhook
exports.py     CSV and PDF (WeasyPrint) in English, French and Arabic
schedule.py    the beat run: issue last month, refresh this month's drafts, budget alerts
"""

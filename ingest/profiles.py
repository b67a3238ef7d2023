"""Shipped CSV mapping profiles: name → kind → mapping dict (see ``abm_site.csvio.Mapping``).

Each profile reads a vendor's *default* export as it comes (README lists
them and how to produce each). Column names are matched ignoring case,
spaces and punctuation, so "Account Name", "account_name" and "AccountName"
are the same column. A Salesforce profile reads both the report export
(column labels) and the Data Loader / API-name export (``StageName``).
Dates carry no fixed order: each column's order is decided from the file
(``01/10/2026`` is refused as ambiguous when nothing in the column decides
it). A user's own mapping is a JSON file with the same keys (one kind, or
an object keyed by kind), or one saved from the Imports page.
"""

from typing import Any

#: Salesforce's standard opportunity types (and a few common custom ones).
_SF_TYPES = {
    "New Business": "new_business",
    "New Customer": "new_business",
    "Existing Customer - Upgrade": "expansion",
    "Existing Business": "expansion",
    "Upsell": "expansion",
    "Cross-sell": "expansion",
    "Expansion": "expansion",
    "Existing Customer - Replacement": "renewal",
    "Existing Customer - Downgrade": "renewal",
    "Renewal": "renewal",
}
#: Campaign member statuses (Salesforce's defaults and the usual custom ones) → touch kind.
_SF_MEMBER_KINDS = {
    "Responded": "form_fill",
    "Registered": "form_fill",
    "Attended": "event_attended",
    "Opened": "email_open",
    "Clicked": "email_click",
    "Visited": "web_visit",
    "Downloaded": "content_download",
    "Sent": "email_sent",
    "Invited": "email_sent",
}
#: Task and event types (Type, Task Subtype, Event Subtype) → touch kind.
_SF_ACTIVITY_KINDS = {
    "Call": "call_connected",
    "Email": "email_sent",
    "ListEmail": "email_sent",
    "List Email": "email_sent",
    "Meeting": "meeting",
    "Event": "meeting",
    "Demo": "meeting",
}

MAVEN_CRM: dict[str, dict[str, Any]] = {
    "accounts": {
        "label": "Maven Analytics CRM sample: accounts.csv (all on the target list)",
        "source": "maven-crm",
        "columns": {
            "account": "name",
            "sector": "industry",
            "revenue": "annual_revenue",
            "employees": "employees",
            "office_location": "country",
        },
        "scale": {"annual_revenue": 1_000_000},
        "constants": {"is_target": "true"},
    },
    "opportunities": {
        "label": "Maven Analytics CRM sample: sales_pipeline.csv (new business)",
        "source": "maven-crm",
        "columns": {
            "opportunity_id": "external_id",
            "account": "account_name",
            "deal_stage": ["crm_stage", "status"],
            "engage_date": "created_on",
            "close_date": "closed_on",
            "close_value": "amount",
        },
        "values": {
            "status": {"Won": "won", "Lost": "lost", "Prospecting": "open", "Engaging": "open"}
        },
        "constants": {"type": "new_business"},
    },
}

SALESFORCE: dict[str, dict[str, Any]] = {
    "accounts": {
        "label": "Salesforce account export (report or Data Loader)",
        "source": "salesforce",
        "columns": {
            "Id": "external_id",
            "Account ID": "external_id",
            "Account Name": "name",
            "Name": "name",
            "Website": "domain",
            "Industry": "industry",
            "NumberOfEmployees": "employees",
            "Employees": "employees",
            "AnnualRevenue": "annual_revenue",
            "BillingCountry": "country",
            "Billing Country": "country",
            "Account Owner": "owner",
            "Owner.Email": "owner",
            "Owner Email": "owner",
            "Target Account": "is_target",
        },
    },
    "stakeholders": {
        "label": "Salesforce contact export",
        "source": "salesforce",
        "columns": {
            "Id": "external_id",
            "Contact ID": "external_id",
            "FirstName": "first_name",
            "First Name": "first_name",
            "LastName": "last_name",
            "Last Name": "last_name",
            "Name": "name",
            "Full Name": "name",
            "Email": "email",
            "Title": "title",
            "AccountId": "account_external_id",
            "Account ID": "account_external_id",
            "Account Name": "account_name",
            "Lead Role": "buying_role",
            "Role": "buying_role",
        },
        "values": {
            "buying_role": {
                "Decision Maker": "decision_maker",
                "Economic Buyer": "decision_maker",
                "Economic Decision Maker": "decision_maker",
                "Executive Sponsor": "decision_maker",
                "Technical Buyer": "influencer",
                "Evaluator": "influencer",
                "Influencer": "influencer",
                "Business User": "user",
                "End User": "user",
            }
        },
        "value_default": {"buying_role": "other"},
    },
    "opportunities": {
        "label": "Salesforce opportunity export",
        "source": "salesforce",
        "columns": {
            "Id": "external_id",
            "Opportunity ID": "external_id",
            "Name": "name",
            "Opportunity Name": "name",
            "AccountId": "account_external_id",
            "Account ID": "account_external_id",
            "Account Name": "account_name",
            "StageName": ["crm_stage", "status"],
            "Stage": ["crm_stage", "status"],
            "Amount": "amount",
            "Amount Currency": "currency",
            "CurrencyIsoCode": "currency",
            "Opportunity Currency": "currency",
            "CloseDate": "closed_on",
            "Close Date": "closed_on",
            "CreatedDate": "created_on",
            "Created Date": "created_on",
            "IsWon": "is_won",
            "Won": "is_won",
            "IsClosed": "is_closed",
            "Closed": "is_closed",
            "Type": "type",
            "Contract Start Date": "contract_start",
            "Contract End Date": "contract_end",
            "Contract Term (months)": "term_months",
            "Contract Term": "term_months",
        },
        "values": {
            "status": {"Closed Won": "won", "Closed Lost": "lost"},
            "type": _SF_TYPES,
        },
        "value_default": {"status": "open", "type": "new_business"},
    },
    "touches": {
        "label": "Salesforce campaign members (report or Data Loader)",
        "source": "salesforce",
        "columns": {
            "Id": "external_id",
            "Campaign Member ID": "external_id",
            "Campaign Name": "program",
            "Campaign": "program",
            "Campaign.Name": "program",
            "Member Status": "kind",
            "Status": "kind",
            "Email": "stakeholder_email",
            "Company / Account": "account_name",
            "Company": "account_name",
            "Account Name": "account_name",
            "First Responded Date": "occurred_at",
            "FirstRespondedDate": "occurred_at",
            "Member First Associated Date": "occurred_at",
            "CreatedDate": "occurred_at",
        },
        "values": {"kind": _SF_MEMBER_KINDS},
        "skip_values": {"kind": ["Planned", "Not Attended", "No Show", "Unsubscribed"]},
        "options": {"create_programs": True},
    },
}

SALESFORCE_ACTIVITIES: dict[str, dict[str, Any]] = {
    "touches": {
        "label": "Salesforce activities: tasks and events (report or Data Loader)",
        "source": "salesforce",
        "columns": {
            "Activity ID": "external_id",
            "Id": "external_id",
            "Type": "kind",
            "Activity Type": "kind",
            "TaskSubtype": "kind",
            "Task Subtype": "kind",
            "Date": "occurred_at",
            "Due Date": "occurred_at",
            "ActivityDate": "occurred_at",
            "Start": "occurred_at",
            "StartDateTime": "occurred_at",
            "Company / Account": "account_name",
            "Account": "account_name",
            "Account Name": "account_name",
            "Email": "stakeholder_email",
            "Contact Email": "stakeholder_email",
            "Subject": "asset",
            "Duration": "engagement_minutes",
            "DurationInMinutes": "engagement_minutes",
            "Call Type": "direction",
            "CallType": "direction",
        },
        "values": {
            "kind": _SF_ACTIVITY_KINDS,
            "direction": {"Inbound": "inbound", "Outbound": "outbound", "Internal": "outbound"},
        },
    },
}

HUBSPOT: dict[str, dict[str, Any]] = {
    "accounts": {
        "label": "HubSpot company export",
        "source": "hubspot",
        "columns": {
            "Record ID": "external_id",
            "Company ID": "external_id",
            "Company name": "name",
            "Name": "name",
            "Company Domain Name": "domain",
            "Industry": "industry",
            "Number of Employees": "employees",
            "Annual Revenue": "annual_revenue",
            "Country/Region": "country",
            "Country": "country",
            "Company owner": "owner",
            "Target Account": "is_target",
            "Is Target Account": "is_target",
            "Ideal Customer Profile Tier": "tier",
            "ICP Tier": "tier",
        },
        "values": {
            "tier": {
                "tier_1": "Tier 1",
                "Tier 1": "Tier 1",
                "tier_2": "Tier 2",
                "Tier 2": "Tier 2",
                "tier_3": "Tier 3",
                "Tier 3": "Tier 3",
            },
        },
        "options": {"create_tiers": True},
    },
    "stakeholders": {
        "label": "HubSpot contact export",
        "source": "hubspot",
        "columns": {
            "Record ID": "external_id",
            "Contact ID": "external_id",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Email": "email",
            "Job Title": "title",
            "Associated Company ID": "account_external_id",
            "Associated Company IDs": "account_external_id",
            "Associated Company IDs (Primary)": "account_external_id",
            "Company ID": "account_external_id",
            "Associated Company": "account_name",
            "Associated Company (Primary)": "account_name",
            "Company Name": "account_name",
            "Buying Role": "buying_role",
            "Buying Roles": "buying_role",
        },
        "values": {
            "buying_role": {
                "Decision Maker": "decision_maker",
                "DECISION_MAKER": "decision_maker",
                "Budget Holder": "decision_maker",
                "BUDGET_HOLDER": "decision_maker",
                "Executive Sponsor": "decision_maker",
                "EXECUTIVE_SPONSOR": "decision_maker",
                "Champion": "champion",
                "CHAMPION": "champion",
                "Influencer": "influencer",
                "INFLUENCER": "influencer",
                "Legal and Compliance": "influencer",
                "LEGAL_AND_COMPLIANCE": "influencer",
                "Blocker": "blocker",
                "BLOCKER": "blocker",
                "End User": "user",
                "END_USER": "user",
            }
        },
        "value_default": {"buying_role": "other"},
    },
    "opportunities": {
        "label": "HubSpot deal export",
        "source": "hubspot",
        "columns": {
            "Record ID": "external_id",
            "Deal ID": "external_id",
            "Deal Name": "name",
            "Deal Stage": ["crm_stage", "status"],
            "Amount": "amount",
            "Close Date": "closed_on",
            "Create Date": "created_on",
            "Deal Type": "type",
            "Pipeline": "pipeline",
            "Currency": "currency",
            "Deal Currency Code": "currency",
            "Associated Company ID": "account_external_id",
            "Associated Company IDs": "account_external_id",
            "Associated Company IDs (Primary)": "account_external_id",
            "Company ID": "account_external_id",
            "Associated Company": "account_name",
            "Associated Company (Primary)": "account_name",
            "Company name": "account_name",
            "Contract End Date": "contract_end",
            "Contract Start Date": "contract_start",
        },
        "values": {
            "status": {"Closed Won": "won", "closedwon": "won", "Closed Lost": "lost"},
            "type": {
                "New Business": "new_business",
                "newbusiness": "new_business",
                "Existing Business": "expansion",
                "existingbusiness": "expansion",
                "Renewal": "renewal",
            },
            "pipeline": {"Renewals": "renewal", "Renewal": "renewal", "Upsell": "expansion"},
        },
        "value_default": {"status": "open", "type": "new_business", "pipeline": ""},
    },
}

BOMBORA: dict[str, dict[str, Any]] = {
    "intent": {
        "label": "Bombora Company Surge export (a surge at a composite score of 60 or more)",
        "source": "bombora",
        "columns": {
            "Company Name": "account_name",
            "Domain": "account_domain",
            "Topic": "topic",
            "Composite Score": "score",
        },
        "options": {"surge_threshold": 60},
    },
}

LINKEDIN_ADS: dict[str, dict[str, Any]] = {
    "spend": {
        "label": "LinkedIn Campaign Manager: campaign performance report (spend per campaign)",
        "source": "linkedin",
        "columns": {
            "Start Date (in UTC)": ["spent_on", "external_id"],
            "Campaign ID": "external_id",
            "Campaign Name": "program",
            "Campaign": "program",
            "Total Spent": "amount",
            "Amount Spent": "amount",
            "Currency": "currency",
        },
        "options": {"create_programs": True, "channel": "linkedin"},
    },
    "touches": {
        "label": "LinkedIn Campaign Manager: company demographics (impressions and clicks per "
        "company and day)",
        "source": "linkedin",
        "columns": {
            "Start Date (in UTC)": "occurred_at",
            "Campaign Name": "program",
            "Campaign": "program",
            "Company Name": "account_name",
            "Company": "account_name",
            "Company Website": "account_domain",
            "Impressions": "count:ad_impression",
            "Clicks": "count:ad_click",
        },
        "constants": {"channel": "linkedin"},
        "options": {"create_programs": True},
    },
}

GOOGLE_ADS: dict[str, dict[str, Any]] = {
    "spend": {
        "label": "Google Ads campaign report (spend per campaign and day)",
        "source": "google-ads",
        "columns": {
            "Day": ["spent_on", "external_id"],
            "Campaign ID": "external_id",
            "Campaign": ["program", "external_id"],
            "Cost": "amount",
            "Currency code": "currency",
            "Currency": "currency",
        },
        "skip_values": {"spent_on": ["total:"]},
        "options": {"create_programs": True, "channel": "google-ads"},
    },
}

#: name → kind → mapping dict. ``default`` (our field names) is built by the service.
MAPPINGS: dict[str, dict[str, dict[str, Any]]] = {
    "maven-crm": MAVEN_CRM,
    "salesforce": SALESFORCE,
    "salesforce-activities": SALESFORCE_ACTIVITIES,
    "hubspot": HUBSPOT,
    "bombora": BOMBORA,
    "linkedin-ads": LINKEDIN_ADS,
    "google-ads": GOOGLE_ADS,
}

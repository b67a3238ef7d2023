"""Shipped CSV mapping profiles: name → kind → mapping dict (see ``abm_site.csvio.Mapping``).

Column names are matched ignoring case, spaces and punctuation, so
"Account Name", "account_name" and "AccountName" are the same column.
A user's own mapping is a JSON file with the same keys (one kind, or an
object keyed by kind).
"""

from typing import Any

_US_DATES = ["%m/%d/%Y", "%m/%d/%y"]
_US_DATETIMES = ["%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y"]

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
        },
        "date_formats": _US_DATES,
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
        },
        "date_formats": _US_DATES,
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
            "CloseDate": "closed_on",
            "Close Date": "closed_on",
            "CreatedDate": "created_on",
            "Created Date": "created_on",
            "IsWon": "is_won",
            "Won": "is_won",
            "IsClosed": "is_closed",
            "Closed": "is_closed",
            "Type": "type",
        },
        "values": {
            "status": {"Closed Won": "won", "Closed Lost": "lost"},
            "type": {
                "New Business": "new_business",
                "New Customer": "new_business",
                "Existing Customer - Upgrade": "expansion",
                "Upsell": "expansion",
                "Cross-sell": "expansion",
                "Expansion": "expansion",
                "Existing Customer - Replacement": "renewal",
                "Existing Customer - Downgrade": "renewal",
                "Renewal": "renewal",
            },
        },
        "value_default": {"status": "open", "type": "new_business"},
        "date_formats": _US_DATES,
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
        },
        "date_formats": _US_DATES,
        "datetime_formats": _US_DATETIMES,
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
            "Company ID": "account_external_id",
            "Associated Company": "account_name",
            "Company Name": "account_name",
        },
        "date_formats": _US_DATES,
        "datetime_formats": _US_DATETIMES,
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
            "Associated Company ID": "account_external_id",
            "Company ID": "account_external_id",
            "Associated Company": "account_name",
            "Company name": "account_name",
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
        },
        "value_default": {"status": "open", "type": "new_business"},
        "date_formats": _US_DATES,
        "datetime_formats": _US_DATETIMES,
    },
}

#: name → kind → mapping dict. ``default`` (our field names) is built by the service.
MAPPINGS: dict[str, dict[str, dict[str, Any]]] = {
    "maven-crm": MAVEN_CRM,
    "salesforce": SALESFORCE,
    "hubspot": HUBSPOT,
}

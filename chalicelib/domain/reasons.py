"""Reason codes: every decision carries one, and support agents read them on the contact's card."""

from enum import StrEnum


class Rule(StrEnum):
    """Which contact rule decided, in the order they are applied."""

    VALIDITY = "validity"
    CONSENT = "consent"
    SUPPRESSION = "suppression"
    CHANNEL = "channel"
    QUIET_HOURS = "quiet_hours"
    B2B_WINDOW = "b2b_window"
    FREQUENCY_CAP = "frequency_cap"
    ARBITRATION = "arbitration"
    HOLDOUT = "holdout"
    DOI = "doi"
    ALL = "all"


class Reason(StrEnum):
    CLEAR = "clear"  # send: every rule passed
    EXPIRED = "expired"  # skip: the send could not go out before its validity ended
    NO_DATA_PROCESSING_CONSENT = "no_data_processing_consent"  # exit: nothing may be processed
    NOT_CONFIRMED = "not_confirmed"  # skip: double opt-in not confirmed, only the DOI message may go
    NO_ADDRESS = "no_address"  # skip: no address on any channel the send may use
    NO_CONSENT = "no_consent"  # skip: no consent for the purpose on any channel with an address
    STOP_LISTED = "stop_listed"  # skip: marketing to a contact on the stop list
    SUPPRESSED = "suppressed"  # skip: every usable address is suppressed (bounce, complaint, STOP)
    SMS_NOT_ALLOWED = "sms_not_allowed"  # skip: only SMS was left and this send may not use it
    QUIET_HOURS = "quiet_hours"  # defer: night in the recipient's zone
    B2B_WINDOW = "b2b_window"  # defer: outside B2B working days and hours
    CAP_REACHED = "cap_reached"  # defer: a frequency cap is full; `detail` names it
    LOWER_PRIORITY = "lower_priority"  # defer: a higher-priority send competes for this slot
    SLOT_TAKEN = "slot_taken"  # defer: another marketing send went out within the slot
    HOLDOUT = "holdout"  # skip: the contact is in the chain's holdout group (would have been sent)
    NO_LEGAL_SLOT = "no_legal_slot"  # skip: no instant satisfies every rule within the horizon
    DOI_RATE_LIMITED = "doi_rate_limited"  # skip: a DOI message went to this address too recently


class ExitReason(StrEnum):
    """Why an enrollment stopped running (chains)."""

    COMPLETED = "completed"
    GOAL = "goal"  # written as "goal:<event or reaction>"
    EXIT_STEP = "exit_step"
    CONSENT_REVOKED = "consent_revoked"
    DATA_PROCESSING_WITHDRAWN = "data_processing_withdrawn"

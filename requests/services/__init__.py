"""Writes: filing, deciding, telling the customer, out-of-office and attachments, a module per job.

Every write goes through a function here, inside a transaction, with its audit trail. Views, admin
actions, the API and Celery tasks call these; none repeat a rule. A refusal raises a class of
``errors`` (all ``ExceptionRequestError``) and writes nothing. Who is told, and in which words, is
``requests.notifications``. The package re-exports every public name, so callers import from
``requests.services`` and need not know which module holds what:

- ``errors``: the refusals;
- ``filing``: the facts, the customer, preview, filing (once per form);
- ``decisions``: claim, ask, answer, decide, withdraw;
- ``customer_message``: the drafted message and its sending;
- ``delegations``: out-of-office;
- ``attachments``: adding and removing files;
- ``rollups``: the analysis' daily counters of final requests (derived data, no audit trail);
- ``timers``: precise SLA checks before the next sweep;
- ``_common``: small helpers the modules share.
"""

from requests.services.attachments import attachment_add, attachment_remove
from requests.services.customer_message import customer_message_save, draft_denial_message, draft_grant_message
from requests.services.decisions import (
    exception_request_answer,
    exception_request_ask,
    exception_request_claim,
    exception_request_decide,
    exception_request_withdraw,
)
from requests.services.delegations import delegation_create, delegation_end
from requests.services.errors import (
    AboveAuthority,
    AlreadyClaimed,
    AlreadyDecided,
    CustomerNameConflict,
    CustomerRefused,
    DelegationRefused,
    ExceptionRequestError,
    FileRefused,
    FilingRefused,
    FormAlreadyUsed,
    IdempotencyKeyReused,
    InvalidInput,
    LevelMoved,
    MessageAlreadySent,
    NotAssigned,
    NotFound,
    NotWithdrawable,
    NotYours,
    SelfDealing,
    TokenRefused,
    WrongStatus,
)
from requests.services.filing import (
    FilingFacts,
    customer_get_or_create,
    customer_name_conflict,
    exception_request_file,
    exception_request_file_once,
    exception_request_preview,
)
from requests.services.rollups import requests_roll_up, requests_roll_up_batch, requests_rollups_reset
from requests.services.timers import TIMER_RESOLUTION, sla_checks_schedule, sla_timer_horizon

__all__ = [
    "TIMER_RESOLUTION",
    "AboveAuthority",
    "AlreadyClaimed",
    "AlreadyDecided",
    "CustomerNameConflict",
    "CustomerRefused",
    "DelegationRefused",
    "ExceptionRequestError",
    "FileRefused",
    "FilingFacts",
    "FilingRefused",
    "FormAlreadyUsed",
    "IdempotencyKeyReused",
    "InvalidInput",
    "LevelMoved",
    "MessageAlreadySent",
    "NotAssigned",
    "NotFound",
    "NotWithdrawable",
    "NotYours",
    "SelfDealing",
    "TokenRefused",
    "WrongStatus",
    "attachment_add",
    "attachment_remove",
    "customer_get_or_create",
    "customer_message_save",
    "customer_name_conflict",
    "delegation_create",
    "delegation_end",
    "draft_denial_message",
    "draft_grant_message",
    "exception_request_answer",
    "exception_request_ask",
    "exception_request_claim",
    "exception_request_decide",
    "exception_request_file",
    "exception_request_file_once",
    "exception_request_preview",
    "exception_request_withdraw",
    "requests_roll_up",
    "requests_roll_up_batch",
    "requests_rollups_reset",
    "sla_checks_schedule",
    "sla_timer_horizon",
]

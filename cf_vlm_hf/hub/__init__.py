"""The Hub: model cards (`model_card`), a login/reachability check (`access`), pushing saved folders (`push`)."""

from .access import HubUnavailableError, check_hub_access
from .model_card import CardInfo, card_info_from_trainer, model_card, update_card_results
from .push import folder_kind, push_folder

__all__ = [
    "CardInfo",
    "HubUnavailableError",
    "card_info_from_trainer",
    "check_hub_access",
    "folder_kind",
    "model_card",
    "push_folder",
    "update_card_results",
]

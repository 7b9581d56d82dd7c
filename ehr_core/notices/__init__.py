"""Practice notices: what works and what does not, live, on the EHR's own origin."""

from ehr_core.notices.board import NoticeBoard
from ehr_core.notices.notice import LocalState, Notice, compose
from ehr_core.notices.routes import router

__all__ = ["LocalState", "Notice", "NoticeBoard", "compose", "router"]

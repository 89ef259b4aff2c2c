"""The data contract (great-expectations): errors stop a run, warnings are handled explicitly."""

from tradeforge.validation.derived import asset_class_of
from tradeforge.validation.docs import write_data_docs
from tradeforge.validation.report import DataValidationError, RuleResult, ValidationReport
from tradeforge.validation.suite import RULES, suite_name, validate

__all__ = [
    "RULES",
    "DataValidationError",
    "RuleResult",
    "ValidationReport",
    "asset_class_of",
    "suite_name",
    "validate",
    "write_data_docs",
]

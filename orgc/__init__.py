"""orgc: an AWS Organization as code — validate, plan and apply OrgFormation-format files."""

__version__ = "0.1.0"

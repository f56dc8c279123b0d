"""Policy plugins shipped with labelloop: ``defaults`` and alternatives teams can switch on or copy."""

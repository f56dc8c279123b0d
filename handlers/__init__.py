"""Lambda entry points: parse the event, gather facts, ask the engine, act, record."""

"""Decision policy: answer, ask to rephrase, or escalate to a human."""

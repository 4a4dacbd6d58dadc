"""Treatment planning: regimens as data, doses for this patient, the calendar, the follow-up."""

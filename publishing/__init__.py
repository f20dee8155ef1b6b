"""From approved to published: posting schedules, the calendar, delivery channels and post metrics."""

"""Generation flows: named, versioned step lists run by Celery workers, one step at a time,
each step's result stored as it finishes so a killed worker resumes where it stopped."""

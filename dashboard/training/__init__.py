"""Students' trainings in the background: the queue, the workers, trained models and their owners."""

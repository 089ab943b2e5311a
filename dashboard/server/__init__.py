"""Serving: the request guard, the refusal of crafted values, warm-up, the teacher, session set-up."""

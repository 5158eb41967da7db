"""Gateway API in the lab: model and validation, matching, the nginx renderer, runtime."""

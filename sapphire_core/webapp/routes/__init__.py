"""One router per page of the web app (search, A/B test, triplets) and one for the admin endpoints."""

"""``rlaif serve``: one loaded judge shared by many clients over HTTP (FastAPI + uvicorn)."""

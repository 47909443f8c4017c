"""verirag's HTTP service: FastAPI app (api.app.create_app), routes in api.routes, `verirag serve`."""

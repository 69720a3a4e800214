"""Local stand-ins for outside services, so no test touches the internet."""

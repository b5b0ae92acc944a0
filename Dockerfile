FROM python:3.11-slim
WORKDIR /srv/socialdesk
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY connectors ./connectors
COPY migrations ./migrations
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["socialdesk", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-workers"]

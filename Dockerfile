FROM python:3.11-slim
WORKDIR /srv/socialdesk
# The versions the test suite ran with (hash-checked), then the service without resolving.
COPY requirements/app.lock ./requirements/app.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/app.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY connectors ./connectors
COPY migrations ./migrations
RUN pip install --no-cache-dir --no-deps .
EXPOSE 8000
CMD ["socialdesk", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-workers"]

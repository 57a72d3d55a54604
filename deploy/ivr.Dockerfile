# The hotline service.  Rendered prompts and the bundled speech model are in the
# repository, so the image needs neither espeak-ng nor a model download to run;
# espeak-ng is installed so administrators can re-render edited prompts.
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng sox libsndfile1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ivr ./ivr
COPY grammars ./grammars
COPY prompts ./prompts
RUN pip install --no-cache-dir .
ENV IVR_GRAMMARS_DIR=/app/grammars IVR_PROMPTS_DIR=/app/prompts
# Not root.  Group 1000 is shared with Asterisk (HOTLINE_GID in docker-compose.yml)
# for the recording spool, which nobody else may read.
RUN groupadd -g 1000 hotline && useradd -u 1000 -g hotline -M -s /usr/sbin/nologin hotline \
 && mkdir -p /data /var/spool/hotline \
 && chown hotline:hotline /data /var/spool/hotline /app/prompts \
 && chmod 0700 /data && chmod 2770 /var/spool/hotline
USER hotline
EXPOSE 4573 8000
CMD ["ivr", "serve"]

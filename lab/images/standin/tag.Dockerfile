# homelab lab STAND-IN for one app's tag, NOT the real software: the base image (Dockerfile beside
# this one) told which tag it answers for and where it listens. Metadata only, no RUN or COPY, so
# that no layer is added and all tags share the base's one layer. Nothing the real image declares
# (EXPOSE, VOLUME, USER, HEALTHCHECK) is copied: the stand-in needs none of it.
ARG BASE
FROM ${BASE}
ARG STANDIN_FOR
ARG STANDIN_PORTS
ARG TITLE
ARG VERSION
ENV STANDIN_FOR=${STANDIN_FOR} STANDIN_PORTS=${STANDIN_PORTS}
LABEL org.opencontainers.image.title="${TITLE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.description="homelab lab STAND-IN for ${STANDIN_FOR} (not the real software)"

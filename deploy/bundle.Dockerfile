# syntax=docker/dockerfile:1
# A versioned bundle image: the desks' data, checked and indexed by `sportello build`, in
# /bundle, and nothing else worth running. The Deployment's init container copies /bundle into
# the pod's read-only bundle volume (deploy/k8s/deployment.yaml). Tag it with the data's date or
# the bundle version; changing that tag in the Deployment is the rolling bundle upgrade.
#
#   docker build -f deploy/bundle.Dockerfile --build-arg SPORTELLO_IMAGE=registry.example.org/sportello:0.1.0 \
#     -t registry.example.org/sportello-bundle:2026-12-01 path/to/data
#
# The build context is a directory of input files (*.geojson, *.json, *.csv); a strict build
# fails on any invalid record, so a bad data set never becomes an image.

ARG SPORTELLO_IMAGE=registry.example.org/sportello:0.1.0
FROM ${SPORTELLO_IMAGE} AS build
COPY --chown=10001:10001 . /data
# Anything the build writes beside the bundle goes to /tmp, not into the data.
WORKDIR /tmp
USER 10001:10001
# Every input file of the context, in a fixed order. A strict build: one invalid record fails
# the image build with the list of problems.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN mapfile -t files < <(find /data -maxdepth 1 -type f \( -name '*.geojson' -o -name '*.json' -o -name '*.csv' \) | sort) \
    && (( ${#files[@]} > 0 )) \
    && sportello build --out /tmp/bundle --input "${files[@]}"

FROM debian:bookworm-slim
COPY --from=build --chown=10001:10001 /tmp/bundle /bundle
USER 10001:10001
# The init container runs this (the copies belong to the pod's user; the bundle is world-readable).
CMD ["cp", "-R", "/bundle/.", "/srv/bundle/"]

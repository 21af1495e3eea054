FROM python:3.12-slim
MAINTAINER Data Team <data@example.com>
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y build-essential libpq-dev
WORKDIR /srv/app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
ADD https://example.com/GeoLite2-City.mmdb /srv/app/data/
RUN chmod -R 777 /srv/app/data
EXPOSE 8000 22
CMD gunicorn -b 0.0.0.0:8000 app:wsgi

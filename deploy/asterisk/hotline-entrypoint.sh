#!/bin/sh
# Write manager.conf from its template with the AMI credentials from the environment,
# then run Asterisk in the foreground.
set -eu
: "${AMI_USER:?}" "${AMI_SECRET:?}"
sed -e "s|\${AMI_USER}|$AMI_USER|g" -e "s|\${AMI_SECRET}|$AMI_SECRET|g" \
    /etc/asterisk/manager.conf.in > /etc/asterisk/manager.conf
exec asterisk -f -vvv

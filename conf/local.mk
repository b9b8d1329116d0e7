dist_phconf_DATA = conf/posthorn.conf

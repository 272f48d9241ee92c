__all__ = ['ttypes', 'constants', 'SalesLoader', 'RegisterSales']
